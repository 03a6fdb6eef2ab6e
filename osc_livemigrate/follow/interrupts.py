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
"""Ctrl-C and SIGTERM during ``server migrate --wait``, however the CLI was
started.

Python turns SIGINT into KeyboardInterrupt only if SIGINT was not ignored
when the process started; a script's background job (bash ignores SIGINT
there) keeps the ignore, so Ctrl-C, or a test's SIGINT, never reaches the
wait. SIGTERM, by default, ends the process on the spot, with the migration
running on and nothing said. :func:`caught` makes both raise in the wait for
as long as it lasts, and :func:`choose` says what ``--on-interrupt`` makes of
them.
"""

import contextlib
import signal
import threading


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during the wait.

    A KeyboardInterrupt, so whatever handles Ctrl-C handles it too.
    """


def _terminate(signum, frame):
    raise Terminated()


#: the handlers :func:`caught` puts in place, unless the program installed
#: its own (a Python callable): those stay
HANDLERS = {
    signal.SIGINT: signal.default_int_handler,
    signal.SIGTERM: _terminate,
}


@contextlib.contextmanager
def caught():
    """For the block: SIGINT raises KeyboardInterrupt and SIGTERM raises
    :class:`Terminated` in the main thread, then the handlers that were
    there before come back (an inherited ignore included).

    Only an ignore or the operating system's default is replaced; signal
    handlers can only be set from the main thread, elsewhere this does
    nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    try:
        for signum, handler in HANDLERS.items():
            current = signal.getsignal(signum)
            if not callable(current):
                previous[signum] = current
                signal.signal(signum, handler)
        yield
    finally:
        for signum, handler in previous.items():
            # NOTE: None means a handler not set from Python; the closest
            # we can put back is the default.
            signal.signal(
                signum, signal.SIG_DFL if handler is None else handler
            )


def choose(on_interrupt, interrupt, out, stdin, isatty):
    """What to do about one interrupt of the wait.

    :param on_interrupt: ``ask``, ``abort`` or ``detach``.
    :param interrupt: the KeyboardInterrupt (a :class:`Terminated` for
        SIGTERM).
    :param out: the wait's ``follow.output.Output``.
    :param stdin: where an answer is read from; ``isatty(stdin)`` says
        whether someone can type one.
    :returns: ``abort``, ``detach`` or ``continue``. ``ask`` asks only for
        Ctrl-C on a TTY with text output; otherwise it detaches: whoever
        sends SIGTERM is not at the keyboard, and a question would keep a
        process that was asked to end alive.
    """
    if on_interrupt != 'ask':
        return on_interrupt
    if isinstance(interrupt, Terminated) or out.json or not isatty(stdin):
        return 'detach'
    out.line(
        'Interrupted. [a]bort the migration, [d]etach, or [c]ontinue waiting? '
    )
    try:
        answer = stdin.readline().strip().lower()[:1]
    except KeyboardInterrupt:
        answer = 'd'
    return {'a': 'abort', 'c': 'continue'}.get(answer, 'detach')
