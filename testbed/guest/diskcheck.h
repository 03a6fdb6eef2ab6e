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
/* The disk workload dirtier.c runs beside its memory one (diskcheck.c). */
#ifndef DISKCHECK_H
#define DISKCHECK_H

/* Load virtio_blk, open /dev/<dev>, write the region's first generation;
 * 0 on success, else -1 after an ERROR line. */
int disk_setup(const char *dev, long region_mb, double rate,
               double verify_rate);
/* Write and verify what the rates allow since the last call; -1 on an
 * I/O error (after an ERROR line). */
int disk_tick(void);
/* Distinct blocks found corrupt or stale since boot. */
long disk_bad(void);

#endif
