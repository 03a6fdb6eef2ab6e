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
 * PID 1 of the test guest: a memory workload whose every byte can be checked.
 *
 * Why: a live migration that loses or mixes up pages leaves a guest that
 * still prints heartbeats, so "it is alive" proves little.  This program
 * writes whole 4 KiB pages with a pattern derived from (region, page,
 * generation) and checks pages against that pattern:
 *   - the working set (dirty_mb) is rewritten cyclically at dirty_rate MiB/s,
 *     one generation per pass; each page is checked just before it is
 *     overwritten, so every pass verifies the previous one;
 *   - a sweep re-reads every written page (fill region and working set) at
 *     verify_rate MiB/s and prints one VERIFY line per complete sweep.
 * The guest cannot tell reliably that it was migrated (TCG clocks stop with
 * the vCPU), so it never has to: a test waits for two VERIFY lines after the
 * migration ended, the second of which covers only post-migration reads.
 *
 * Kernel command line (all optional, MiB and MiB/s):
 *   dirtier.fill_mb=N dirtier.dirty_mb=N dirtier.dirty_rate=N
 *   dirtier.verify_rate=N dirtier.inject_corrupt=N
 * inject_corrupt damages N written pages once after READY, so a test can
 * prove the checker finds what it should (expect corrupt=N).
 * Console lines (ttyS0):
 *   START ... / READY ... / HEARTBEAT t=S dirtied_mib=N pass=G cycles=C corrupt=K
 *   VERIFY cycle=C pages=P corrupt=K t=S / CORRUPT region=R page=N / ERROR ...
 * corrupt is the number of distinct pages found corrupt since boot.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096L
#define WORDS (PAGE / 8)
#define STEP 0x9E3779B97F4A7C15ULL
#define MAX_REPORTED 16

static uint64_t *fill, *work;
static long fill_pages, work_pages;
static unsigned char *seen;          /* bitmap: page already counted corrupt */
static long corrupt, reported;

static long param(const char *cmdline, const char *key, long def)
{
    char pat[64];
    snprintf(pat, sizeof pat, " dirtier.%s=", key);
    const char *p = strstr(cmdline, pat);
    return p ? atol(p + strlen(pat)) : def;
}

/* MemAvailable in MiB, so an oversized request fails with a message
 * instead of the kernel's OOM panic. */
static long available_mb(void)
{
    char buf[4096];
    int fd = open("/proc/meminfo", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    const char *p = strstr(buf, "MemAvailable:");
    return p ? atol(p + strlen("MemAvailable:")) / 1024 : -1;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* splitmix64: one well-mixed seed per (region, page, generation). */
static uint64_t seed(uint64_t region, uint64_t page, uint64_t gen)
{
    uint64_t z = (region << 56) ^ (page << 24) ^ gen;
    z += STEP;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static void write_page(uint64_t *p, uint64_t s)
{
    for (long k = 0; k < WORDS; k++, s += STEP)
        p[k] = s;
}

static int page_ok(const uint64_t *p, uint64_t s)
{
    for (long k = 0; k < WORDS; k++, s += STEP)
        if (p[k] != s)
            return 0;
    return 1;
}

/* Check one page; count it once if it is wrong. region 0 = fill, 1 = work. */
static void check(int region, long page, uint64_t gen)
{
    const uint64_t *p = (region ? work : fill) + page * WORDS;
    if (page_ok(p, seed(region, page, gen)))
        return;
    long bit = region ? fill_pages + page : page;
    if (seen[bit / 8] & (1 << (bit % 8)))
        return;
    seen[bit / 8] |= 1 << (bit % 8);
    corrupt++;
    if (reported++ < MAX_REPORTED)
        printf("CORRUPT region=%s page=%ld gen=%llu\n", region ? "work" : "fill",
               page, (unsigned long long)gen);
}

static void *must_map(long pages, const char *what)
{
    if (pages == 0)
        return NULL;
    void *p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p != MAP_FAILED)
        return p;
    printf("ERROR cannot map %ld MiB for %s\n", pages * PAGE >> 20, what);
    for (;;)
        pause();   /* PID 1 must not exit: that panics the kernel */
}

int main(void)
{
    mkdir("/proc", 0755);
    mount("proc", "/proc", "proc", 0, NULL);
    mkdir("/dev", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    int fd = open("/dev/console", O_RDWR);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);

    char cmdline[4096] = " ";
    int cf = open("/proc/cmdline", O_RDONLY);
    if (cf >= 0) {
        ssize_t n = read(cf, cmdline + 1, sizeof cmdline - 2);
        cmdline[n > 0 ? n + 1 : 1] = 0;
        close(cf);
    }
    long fill_mb = param(cmdline, "fill_mb", 0);
    long dirty_mb = param(cmdline, "dirty_mb", 64);
    long rate = param(cmdline, "dirty_rate", 100);
    long verify_rate = param(cmdline, "verify_rate", 256);
    long inject = param(cmdline, "inject_corrupt", 0);
    long avail = available_mb();
    printf("START fill_mib=%ld dirty_mib=%ld dirty_rate=%ld verify_rate=%ld"
           " available_mib=%ld\n", fill_mb, dirty_mb, rate, verify_rate, avail);
    if (avail >= 0 && fill_mb + dirty_mb > avail - 24) {
        printf("ERROR fill_mib+dirty_mib=%ld does not fit: available_mib=%ld"
               " minus 24 for the kernel\n", fill_mb + dirty_mb, avail);
        for (;;)
            pause();
    }

    fill_pages = fill_mb * 256;
    work_pages = dirty_mb * 256;
    seen = calloc((fill_pages + work_pages) / 8 + 1, 1);
    fill = must_map(fill_pages, "fill");
    work = must_map(work_pages, "working set");
    double t0 = now();
    for (long i = 0; i < fill_pages; i++)
        write_page(fill + i * WORDS, seed(0, i, 0));
    for (long i = 0; i < work_pages; i++)
        write_page(work + i * WORDS, seed(1, i, 0));
    printf("READY pages=%ld setup_s=%.2f\n", fill_pages + work_pages, now() - t0);
    /* Damage one word in N pages spread over both regions; a damaged
     * working-set page is counted by the check before its next rewrite. */
    for (long i = 0; i < inject && i < fill_pages + work_pages; i++) {
        long n = (fill_pages + work_pages) / inject * i;
        uint64_t *p = n < fill_pages ? fill + n * WORDS
                                     : work + (n - fill_pages) * WORDS;
        p[WORDS / 2] ^= 1;
    }

    /* Credits are pages owed; catch-up is capped at 10 ms so that a throttled
     * vCPU (auto-converge) really dirties less instead of bursting later. */
    double dirty_pps = rate * 256.0, verify_pps = verify_rate * 256.0;
    double dirty_credit = 0, verify_credit = 0;
    double start = now(), last = start;
    long idx = 0, sweep = 0, cycle = 0, cycle_pages = 0, beat = 0, total = 0;
    uint64_t gen = 1;
    for (;;) {
        double t = now();
        dirty_credit += (t - last) * dirty_pps;
        verify_credit += (t - last) * verify_pps;
        last = t;
        if (dirty_credit > dirty_pps / 100 + 1)
            dirty_credit = dirty_pps / 100 + 1;
        if (verify_credit > verify_pps / 100 + 1)
            verify_credit = verify_pps / 100 + 1;
        for (; dirty_credit >= 1 && work_pages; dirty_credit -= 1, total++) {
            check(1, idx, gen - 1);
            write_page(work + idx * WORDS, seed(1, idx, gen));
            if (++idx == work_pages) {
                idx = 0;
                gen++;
            }
        }
        for (; verify_credit >= 1 && fill_pages + work_pages; verify_credit -= 1) {
            if (sweep < fill_pages)
                check(0, sweep, 0);
            else {
                long page = sweep - fill_pages;
                check(1, page, page < idx ? gen : gen - 1);
            }
            cycle_pages++;
            if (++sweep == fill_pages + work_pages) {
                sweep = 0;
                cycle++;
                printf("VERIFY cycle=%ld pages=%ld corrupt=%ld t=%.1f\n",
                       cycle, cycle_pages, corrupt, t - start);
                cycle_pages = 0;
            }
        }
        if (t - start >= beat + 1) {
            beat = (long)(t - start);
            printf("HEARTBEAT t=%ld dirtied_mib=%ld pass=%llu cycles=%ld corrupt=%ld\n",
                   beat, total / 256, (unsigned long long)gen, cycle, corrupt);
        }
        usleep(2000);
    }
}
