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
 *   - each working set is rewritten cyclically at its own rate, one
 *     generation per pass; each page is checked just before it is
 *     overwritten, so every pass verifies the previous one;
 *   - a sweep re-reads every written page (fill region and working sets) at
 *     verify_rate MiB/s and prints one VERIFY line per complete sweep.
 * The guest cannot tell reliably that it was migrated (TCG clocks stop with
 * the vCPU), so it never has to: a test waits for two VERIFY lines after the
 * migration ended, the second of which covers only post-migration reads.
 *
 * Kernel command line (all optional, MiB and MiB/s):
 *   dirtier.fill_mb=N dirtier.dirty_mb=N dirtier.dirty_rate=N
 *   dirtier.verify_rate=N dirtier.inject_corrupt=N
 *   dirtier.disk=vda dirtier.disk_mb=N dirtier.disk_rate=R
 *   dirtier.disk_verify=V  (a checked disk workload, see diskcheck.c)
 * or, for a workload with phases, instead of dirty_mb and dirty_rate:
 *   dirtier.sets=H[,W[,C]] dirtier.stages=D:R[/R[/R]][,D:R...]
 *   dirtier.repeat=0|1
 * sets are up to three working sets (hot, warm, cold) in MiB; each stage
 * lasts D seconds (decimal, "inf" allowed for the last stage of a schedule
 * that does not repeat) and writes set i at the i-th R MiB/s.  With
 * repeat=1 the schedule starts over after its last stage, else the last
 * stage lasts for ever.  Example, 32 MiB written at 40 MiB/s for 3 s and
 * left alone for 3 s, for ever:
 *   dirtier.sets=32 dirtier.stages=3:40,3:0 dirtier.repeat=1
 * inject_corrupt damages N written pages once after READY, so a test can
 * prove the checker finds what it should (expect corrupt=N).
 * Console lines (ttyS0):
 *   START ... / READY ... / HEARTBEAT t=S dirtied_mib=N pass=G cycles=C
 *   corrupt=K [stage=I] / VERIFY cycle=C pages=P corrupt=K t=S /
 *   CORRUPT region=R page=N / ERROR ...
 * corrupt is the number of distinct pages found corrupt since boot; stage
 * (only with a schedule) is the index of the stage in force; pass counts
 * the generations of the first working set.
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

#include "diskcheck.h"

#define PAGE 4096L
#define WORDS (PAGE / 8)
#define STEP 0x9E3779B97F4A7C15ULL
#define MAX_REPORTED 16
#define MAX_SETS 3
#define MAX_STAGES 32

/* Region 0 is the fill, region i + 1 is working set i. */
static uint64_t *fill, *sets[MAX_SETS];
static long fill_pages, set_pages[MAX_SETS], set_base[MAX_SETS];
static long written_pages;
static int nsets;
static const char *set_name[MAX_SETS] = {"work"};
static unsigned char *seen;          /* bitmap: page already counted corrupt */
static long corrupt, reported;

/* The schedule: stage s lasts duration[s] and writes set i at rate[s][i]. */
static double duration[MAX_STAGES], rate[MAX_STAGES][MAX_SETS], period;
static int nstages, repeat;

static const char *raw_param(const char *cmdline, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, " dirtier.%s=", key);
    const char *p = strstr(cmdline, pat);
    return p ? p + strlen(pat) : NULL;
}

static long param(const char *cmdline, const char *key, long def)
{
    const char *p = raw_param(cmdline, key);
    return p ? atol(p) : def;
}

static void halt(void)
{
    for (;;)
        pause();   /* PID 1 must not exit: that panics the kernel */
}

/* Parse "D:R/R,D:R/R" into the schedule; returns an error or NULL. */
static const char *parse_stages(const char *p)
{
    char *end;
    for (nstages = 0; p && *p && *p != ' ' && *p != '\n'; nstages++) {
        if (nstages == MAX_STAGES)
            return "more than 32 stages";
        duration[nstages] = strtod(p, &end);
        if (end == p || *end != ':' || !(duration[nstages] > 0))
            return "a stage needs a positive duration, then ':'";
        p = end + 1;
        for (int i = 0; i < nsets; i++) {
            rate[nstages][i] = strtod(p, &end);
            if (end == p || !(rate[nstages][i] >= 0)
                || rate[nstages][i] > 1e6)
                return "rates must be numbers >= 0";
            p = end;
            if (i + 1 < nsets && *p++ != '/')
                return "a stage needs one rate per working set";
        }
        if (*p == ',')
            p++;
        else if (*p && *p != ' ' && *p != '\n')
            return "a stage has more rates than working sets";
    }
    if (nstages == 0)
        return "no stages";
    period = 0;
    for (int s = 0; s < nstages; s++) {
        if (duration[s] > 1e9 && (repeat || s + 1 < nstages))
            return "only the last stage of a schedule that does not repeat"
                   " may last for ever";
        period += duration[s];
    }
    return NULL;
}

/* Parse "H,W,C" MiB into set sizes; returns an error or NULL. */
static const char *parse_sets(const char *p)
{
    char *end;
    for (nsets = 0; *p && *p != ' ' && *p != '\n'; nsets++) {
        if (nsets == MAX_SETS)
            return "more than three working sets";
        long mib = strtol(p, &end, 10);
        if (end == p || mib <= 0)
            return "working sets must be positive MiB";
        set_pages[nsets] = mib * 256;
        p = *end == ',' ? end + 1 : end;
    }
    return nsets ? NULL : "no working sets";
}

/* Index of the stage in force ``t`` seconds after the workload started. */
static int stage_at(double t)
{
    if (repeat)
        t -= (double)(long)(t / period) * period;
    for (int s = 0; s < nstages; s++) {
        if (t < duration[s])
            return s;
        t -= duration[s];
    }
    return nstages - 1;
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

static uint64_t *page_of(int region, long page)
{
    return (region ? sets[region - 1] : fill) + page * WORDS;
}

/* Check one page; count it once if it is wrong. */
static void check(int region, long page, uint64_t gen)
{
    if (page_ok(page_of(region, page), seed(region, page, gen)))
        return;
    long bit = region ? set_base[region - 1] + page : page;
    if (seen[bit / 8] & (1 << (bit % 8)))
        return;
    seen[bit / 8] |= 1 << (bit % 8);
    corrupt++;
    if (reported++ < MAX_REPORTED)
        printf("CORRUPT region=%s page=%ld gen=%llu\n",
               region ? set_name[region - 1] : "fill", page,
               (unsigned long long)gen);
}

/* Map an index over every written page to (region, page). */
static int locate(long n, long *page)
{
    int region = 0;
    for (int i = 0; i < nsets; i++)
        if (n >= set_base[i])
            region = i + 1;
    *page = region ? n - set_base[region - 1] : n;
    return region;
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
    halt();
    return NULL;
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
    long verify_rate = param(cmdline, "verify_rate", 256);
    long inject = param(cmdline, "inject_corrupt", 0);
    long avail = available_mb();
    const char *sets_text = raw_param(cmdline, "sets");
    long dirty_mb = 0;
    if (sets_text) {
        repeat = param(cmdline, "repeat", 1) != 0;
        const char *error = parse_sets(sets_text);
        if (!error)
            error = parse_stages(raw_param(cmdline, "stages"));
        if (error) {
            printf("ERROR bad schedule: %s\n", error);
            halt();
        }
        set_name[0] = "hot";
        set_name[1] = "warm";
        set_name[2] = "cold";
        for (int i = 0; i < nsets; i++)
            dirty_mb += set_pages[i] / 256;
        printf("START fill_mib=%ld dirty_mib=%ld sets=%d stages=%d"
               " repeat=%d period_s=%.3f verify_rate=%ld available_mib=%ld\n",
               fill_mb, dirty_mb, nsets, nstages, repeat, period, verify_rate,
               avail);
    } else {
        /* The constant workload: one set, one stage that lasts for ever. */
        dirty_mb = param(cmdline, "dirty_mb", 64);
        long dirty_rate = param(cmdline, "dirty_rate", 100);
        nsets = nstages = 1;
        set_pages[0] = dirty_mb * 256;
        duration[0] = 1e300;
        rate[0][0] = dirty_rate;
        period = duration[0];
        printf("START fill_mib=%ld dirty_mib=%ld dirty_rate=%ld"
               " verify_rate=%ld available_mib=%ld\n",
               fill_mb, dirty_mb, dirty_rate, verify_rate, avail);
    }
    if (avail >= 0 && fill_mb + dirty_mb > avail - 24) {
        printf("ERROR fill_mib+dirty_mib=%ld does not fit: available_mib=%ld"
               " minus 24 for the kernel\n", fill_mb + dirty_mb, avail);
        halt();
    }

    fill_pages = fill_mb * 256;
    written_pages = fill_pages;
    for (int i = 0; i < nsets; i++) {
        set_base[i] = written_pages;
        written_pages += set_pages[i];
    }
    seen = calloc(written_pages / 8 + 1, 1);
    fill = must_map(fill_pages, "fill");
    for (int i = 0; i < nsets; i++)
        sets[i] = must_map(set_pages[i], "working set");
    double t0 = now();
    for (long i = 0; i < fill_pages; i++)
        write_page(fill + i * WORDS, seed(0, i, 0));
    for (int s = 0; s < nsets; s++)
        for (long i = 0; i < set_pages[s]; i++)
            write_page(sets[s] + i * WORDS, seed(s + 1, i, 0));
    printf("READY pages=%ld setup_s=%.2f\n", written_pages, now() - t0);
    const char *disk = raw_param(cmdline, "disk");
    if (disk) {
        char dev[32];
        sscanf(disk, "%31[a-z0-9]", dev);
        const char *r = raw_param(cmdline, "disk_rate");
        const char *v = raw_param(cmdline, "disk_verify");
        if (disk_setup(dev, param(cmdline, "disk_mb", 16),
                       r ? strtod(r, NULL) : 1, v ? strtod(v, NULL) : 16))
            halt();
    }
    /* Damage one word in N pages spread over every region; a damaged
     * working-set page is counted by the check before its next rewrite,
     * or by the sweep if its set is idle. */
    for (long i = 0; i < inject && i < written_pages; i++) {
        long page;
        int region = locate(written_pages / inject * i, &page);
        page_of(region, page)[WORDS / 2] ^= 1;
    }

    /* Credits are pages owed; catch-up is capped at 10 ms so that a throttled
     * vCPU (auto-converge) really dirties less instead of bursting later. */
    double verify_pps = verify_rate * 256.0;
    double credit[MAX_SETS] = {0}, verify_credit = 0;
    double start = now(), last = start;
    long idx[MAX_SETS] = {0}, sweep = 0, cycle = 0, cycle_pages = 0;
    long beat = 0, total = 0;
    uint64_t gen[MAX_SETS] = {1, 1, 1};
    for (;;) {
        double t = now();
        int stage = stage_at(t - start);
        for (int i = 0; i < nsets; i++) {
            double pps = rate[stage][i] * 256.0;
            credit[i] += (t - last) * pps;
            if (credit[i] > pps / 100 + 1)
                credit[i] = pps / 100 + 1;
        }
        verify_credit += (t - last) * verify_pps;
        last = t;
        if (verify_credit > verify_pps / 100 + 1)
            verify_credit = verify_pps / 100 + 1;
        for (int i = 0; i < nsets; i++) {
            for (; credit[i] >= 1 && set_pages[i]; credit[i] -= 1, total++) {
                check(i + 1, idx[i], gen[i] - 1);
                write_page(sets[i] + idx[i] * WORDS, seed(i + 1, idx[i], gen[i]));
                if (++idx[i] == set_pages[i]) {
                    idx[i] = 0;
                    gen[i]++;
                }
            }
        }
        for (; verify_credit >= 1 && written_pages; verify_credit -= 1) {
            long page;
            int region = locate(sweep, &page);
            if (region == 0)
                check(0, page, 0);
            else
                check(region, page, page < idx[region - 1]
                      ? gen[region - 1] : gen[region - 1] - 1);
            cycle_pages++;
            if (++sweep == written_pages) {
                sweep = 0;
                cycle++;
                printf("VERIFY cycle=%ld pages=%ld corrupt=%ld t=%.1f\n",
                       cycle, cycle_pages, corrupt, t - start);
                cycle_pages = 0;
            }
        }
        if (t - start >= beat + 1) {
            beat = (long)(t - start);
            printf("HEARTBEAT t=%ld dirtied_mib=%ld pass=%llu cycles=%ld"
                   " corrupt=%ld", beat, total / 256,
                   (unsigned long long)gen[0], cycle, corrupt);
            if (sets_text)
                printf(" stage=%d", stage_at(t - start));
            printf("\n");
        }
        if (disk_tick())
            halt();
        usleep(2000);
    }
}
