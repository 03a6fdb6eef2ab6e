# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.
"""A broken post-copy: how long to wait for it, and what to say when the
wait is over.

When the connection breaks during post-copy, QEMU pauses the stream on
both hosts: the destination holds the guest's newest pages and runs it
until a vCPU touches a page still on the source; the source holds those
pages, paused. If the link returns before the kernel gives up the TCP
connection (``net.ipv4.tcp_retries2``, about 15 minutes by default), the
stream carries on by itself. After that only libvirt's
``VIR_MIGRATE_POSTCOPY_RESUME`` can join the halves again, and on libvirt
11.3 every resume request crashes the destination's libvirtd (a NULL
pointer in ``qemuMigrationDstPrepareResume``, before any flag or URI
matters; ``testbed/pcrecover.md``). So this driver never resumes: it waits
``[livemigrate] postcopy_recovery_window_s`` for the stream to come back,
then ends the migration in error and keeps both halves, so an operator
can still resume by hand once libvirt is fixed.

Nothing here reads libvirt, nova or a clock: the monitor asks
:func:`window_over` with its own times, the driver words the fault with
:func:`lost_message`.
"""

#: nova keeps an instance fault's message to this many characters
FAULT_MESSAGE_MAX = 255


def window_over(broken_since_s, now_s, window_s):
    """Whether a broken post-copy has waited long enough.

    :param broken_since_s: when the source first read post-copy failed,
        or None while it has not
    :param now_s: now, on the same clock
    :param window_s: how long to wait; None or 0 waits for ever
    :returns: bool

    Example: broken at 40 s, a 600 s window is over at 640 s::

        >>> window_over(40.0, 639.5, 600), window_over(40.0, 640.0, 600)
        (False, True)
        >>> window_over(None, 10_000.0, 600), window_over(40.0, 1e9, 0)
        (False, False)
    """
    if broken_since_s is None or not window_s:
        return False
    return now_s - broken_since_s >= window_s


def lost_message(source, dest, waited_s):
    """The fault of a post-copy the window gave up on, for the operator.

    It says where the guest's memory is, that nothing was destroyed, and
    what can be done; at most :data:`FAULT_MESSAGE_MAX` characters (the
    host names are cut if they must be).

    :param source: this host, where the pages not yet copied are
    :param dest: the destination host, which has the newest pages
    :param waited_s: how long the connection stayed broken
    :returns: str

    Example::

        >>> print(lost_message('cmp1', 'cmp2', 600.4))
        ... # doctest: +NORMALIZE_WHITESPACE
        Post-copy live migration lost cmp2 for 600 s: the guest's newest
        memory is on cmp2, the rest on cmp1 (paused); both kept. Restore
        the link and resume with virsh migrate --postcopy-resume, or
        delete the server.
    """
    template = (
        "Post-copy live migration lost %(dest)s for %(s)d s: the guest's "
        'newest memory is on %(dest)s, the rest on %(source)s (paused); '
        'both kept. Restore the link and resume with virsh migrate '
        '--postcopy-resume, or delete the server.'
    )
    names = {'source': source, 'dest': dest}
    fixed = len(template % {'source': '', 'dest': '', 's': waited_s})
    room = max(8, (FAULT_MESSAGE_MAX - fixed) // 3)
    for key, name in names.items():
        if len(name) > room:
            names[key] = name[: room - 1] + '~'
    return (template % dict(names, s=waited_s))[:FAULT_MESSAGE_MAX]
