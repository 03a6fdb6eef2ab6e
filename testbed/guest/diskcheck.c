/*
 * Licensed under the Apache License, Version 2.0 (the "License"); you may
 * not use this file except in compliance with the License. You may obtain
 * a copy of the License at
 *
 *      http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
 * WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
 * License for the specific language governing permissions and limitations
 * under the License.
 */
/*
 * The test guest's disk workload: blocks whose every byte can be checked.
 *
 * Why: a block migration that loses a write, or copies a block twice in
 * the wrong order, leaves a guest that boots and runs; only reading every
 * block back against what was written shows it.  dirtier.c (PID 1) calls
 * disk_setup() once and disk_tick() from its loop.
 *
 * A region at the tail of a virtio disk (past any boot data) is written
 * in 4 KiB blocks with O_DIRECT, so reads come from the device, never
 * from the guest's page cache.  Each block holds a magic word, its block
 * number, its write generation, a checksum of the rest, then a pattern
 * derived from (block, generation).  The region is rewritten cyclically
 * at disk_rate MiB/s, one generation per pass, each chunk checked just
 * before it is overwritten; a sweep re-reads the whole region at
 * disk_verify MiB/s and prints one DISK line per complete sweep.
 *
 * Kernel command line (MiB and MiB/s):
 *   dirtier.disk=vda dirtier.disk_mb=N dirtier.disk_rate=R
 *   dirtier.disk_verify=V
 * Console lines:
 *   DISKSTART dev=vda size_mib=S off_mib=O blocks=B / DISKREADY ... /
 *   DISK cycle=C blocks=B corrupt=K stale=S t=T /
 *   DISKBAD block=N kind=corrupt|stale gen=G found=F
 * corrupt counts blocks whose content matches no write (damaged);
 * stale counts intact blocks of an older generation (a lost write).
 * Both count distinct blocks since boot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "diskcheck.h"

#define BLOCK 4096L
#define BWORDS (BLOCK / 8)
#define CHUNK 16 /* blocks per read or write: 64 KiB */
#define HEAD 4   /* magic, block, generation, checksum */
#define MAGIC 0x4C4D4449534B3031ULL /* "LMDISK01" */
#define DSTEP 0x9E3779B97F4A7C15ULL
#define MAX_BAD 16

/* Loaded in this order: each needs only those before it. */
static const char *modules[] = {
    "virtio_ring", "virtio", "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev", "virtio_pci", "virtio_blk",
};

static int fd = -1;
static uint64_t *buf;
static long blocks, off_blocks;
static long widx, sweep, cycle, cycle_blocks;
static uint64_t gen = 1;
static unsigned char *seen;
static long corrupt, stale, reported;
static double wrate, vrate, wcredit, vcredit, last, start;

static uint64_t mix(uint64_t z)
{
    z += DSTEP;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t checksum(const uint64_t *b)
{
    uint64_t sum = 0;
    for (long k = HEAD; k < BWORDS; k++)
        sum = mix(sum ^ b[k]);
    return sum ^ mix(b[0] ^ b[1] ^ b[2]);
}

static void stamp(uint64_t *b, long block, uint64_t g)
{
    uint64_t s = mix(((uint64_t)block << 24) ^ g ^ (0xD5ULL << 56));
    b[0] = MAGIC;
    b[1] = block;
    b[2] = g;
    for (long k = HEAD; k < BWORDS; k++, s += DSTEP)
        b[k] = s;
    b[3] = checksum(b);
}

/* Check one block against generation ``g``; count it once if bad. */
static void check(const uint64_t *b, long block, uint64_t g)
{
    uint64_t want[BWORDS];
    stamp(want, block, g);
    if (memcmp(want, b, BLOCK) == 0)
        return;
    int intact = b[0] == MAGIC && (long)b[1] == block
                 && b[3] == checksum(b);
    if (intact) {   /* a whole block, but not the last write: compare it */
        stamp(want, block, b[2]);
        intact = memcmp(want, b, BLOCK) == 0;
    }
    if (seen[block / 8] & (1 << (block % 8)))
        return;
    seen[block / 8] |= 1 << (block % 8);
    if (intact)
        stale++;
    else
        corrupt++;
    if (reported++ < MAX_BAD)
        printf("DISKBAD block=%ld kind=%s gen=%llu found=%llu\n", block,
               intact ? "stale" : "corrupt", (unsigned long long)g,
               (unsigned long long)b[2]);
}

static int io(int write, long first, long n)
{
    off_t at = (off_blocks + first) * BLOCK;
    ssize_t done = write ? pwrite(fd, buf, n * BLOCK, at)
                         : pread(fd, buf, n * BLOCK, at);
    if (done == n * BLOCK)
        return 0;
    printf("ERROR disk %s of blocks %ld+%ld failed: %s\n",
           write ? "write" : "read", first, n,
           done < 0 ? strerror(errno) : "short");
    return -1;
}

static void load_modules(void)
{
    char path[96];
    for (unsigned i = 0; i < sizeof modules / sizeof *modules; i++) {
        snprintf(path, sizeof path, "/lib/modules/%s.ko", modules[i]);
        int m = open(path, O_RDONLY | O_CLOEXEC);
        if (m < 0 || (syscall(SYS_finit_module, m, "", 0) != 0
                      && errno != EEXIST))
            printf("ERROR cannot load %s: %s\n", path, strerror(errno));
        if (m >= 0)
            close(m);
    }
}

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int disk_setup(const char *dev, long region_mb, double rate,
               double verify_rate)
{
    char path[64];
    snprintf(path, sizeof path, "/dev/%s", dev);
    load_modules();
    /* The device node appears once virtio_blk has probed the disk. */
    for (int i = 0; i < 100 && fd < 0; i++) {
        fd = open(path, O_RDWR | O_DIRECT | O_SYNC);
        if (fd < 0)
            usleep(100000);
    }
    if (fd < 0) {
        printf("ERROR cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    uint64_t size = 0;
    if (ioctl(fd, BLKGETSIZE64, &size) != 0
        || (long)(size >> 20) < region_mb || region_mb <= 0) {
        printf("ERROR %s has %llu MiB, the region needs %ld\n", path,
               (unsigned long long)(size >> 20), region_mb);
        return -1;
    }
    blocks = region_mb * 256;
    off_blocks = (long)(size / BLOCK) - blocks;   /* the tail */
    seen = calloc(blocks / 8 + 1, 1);
    if (posix_memalign((void **)&buf, BLOCK, CHUNK * BLOCK) != 0 || !seen) {
        printf("ERROR no memory for the disk checker\n");
        return -1;
    }
    printf("DISKSTART dev=%s size_mib=%llu off_mib=%ld blocks=%ld"
           " rate=%g verify_rate=%g\n", dev,
           (unsigned long long)(size >> 20), off_blocks / 256, blocks,
           rate, verify_rate);
    double t0 = secs();
    for (long b = 0; b < blocks; b += CHUNK) {
        long n = blocks - b < CHUNK ? blocks - b : CHUNK;
        for (long i = 0; i < n; i++)
            stamp(buf + i * BWORDS, b + i, 0);
        if (io(1, b, n))
            return -1;
    }
    printf("DISKREADY blocks=%ld setup_s=%.2f\n", blocks, secs() - t0);
    wrate = rate * 256.0;
    vrate = verify_rate * 256.0;
    start = last = secs();
    return 0;
}

/* Rewrite the next chunk: check what it holds, then stamp it anew. */
static int write_chunk(void)
{
    long n = blocks - widx < CHUNK ? blocks - widx : CHUNK;
    if (io(0, widx, n))
        return -1;
    for (long i = 0; i < n; i++)
        check(buf + i * BWORDS, widx + i, gen - 1);
    for (long i = 0; i < n; i++)
        stamp(buf + i * BWORDS, widx + i, gen);
    if (io(1, widx, n))
        return -1;
    widx += n;
    if (widx == blocks) {
        widx = 0;
        gen++;
    }
    return 0;
}

static int verify_chunk(void)
{
    long n = blocks - sweep < CHUNK ? blocks - sweep : CHUNK;
    if (io(0, sweep, n))
        return -1;
    for (long i = 0; i < n; i++) {
        long b = sweep + i;
        check(buf + i * BWORDS, b, b < widx ? gen : gen - 1);
    }
    sweep += n;
    cycle_blocks += n;
    if (sweep == blocks) {
        sweep = 0;
        cycle++;
        printf("DISK cycle=%ld blocks=%ld corrupt=%ld stale=%ld t=%.1f\n",
               cycle, cycle_blocks, corrupt, stale, secs() - start);
        cycle_blocks = 0;
    }
    return 0;
}

int disk_tick(void)
{
    if (fd < 0)
        return 0;
    double t = secs();
    /* Catch-up is capped at 10 ms, as for memory. */
    wcredit += (t - last) * wrate;
    vcredit += (t - last) * vrate;
    last = t;
    if (wcredit > wrate / 100 + CHUNK)
        wcredit = wrate / 100 + CHUNK;
    if (vcredit > vrate / 100 + CHUNK)
        vcredit = vrate / 100 + CHUNK;
    for (; wcredit >= CHUNK; wcredit -= CHUNK)
        if (write_chunk())
            return -1;
    for (; vcredit >= CHUNK; vcredit -= CHUNK)
        if (verify_chunk())
            return -1;
    return 0;
}

long disk_bad(void)
{
    return corrupt + stale;
}
