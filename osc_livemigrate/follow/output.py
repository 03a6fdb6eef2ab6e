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
"""Where the live commands write: lines for a person, JSON for a program.

``server migrate --wait`` and ``server migration watch`` write to a terminal
(a redrawn bar or table, plain notices) or, when stdout is not a terminal or
``-f json`` asks for it, one JSON object per line. This is the one place
that chooses between the two and writes either.
"""

import os

from osc_livemigrate.follow import progress

#: columns of the bar line when the stream cannot say (not a terminal)
DEFAULT_WIDTH = 100


def isatty(stream):
    """Whether ``stream`` is a terminal; False for anything that cannot say."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width(stream, default=DEFAULT_WIDTH):
    """Columns a redrawn line may use on ``stream``'s terminal, asked now.

    One less than the terminal has: a line that fills the last column wraps
    on some terminals, and the carriage return then redraws the wrong line.
    ``COLUMNS`` wins, as for ``shutil.get_terminal_size``, but only for a
    stream on a real file descriptor; one without (a test's buffer) gets
    ``default``, so that what it records does not depend on the terminal
    the tests run in. Example: an 80-column terminal gives 79.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return default
    try:
        columns = int(os.environ.get('COLUMNS', 0))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(fd).columns
        except (OSError, ValueError):
            return default
    return max(columns - 1, 1) if columns else default


class Output:
    """One command's stdout: TTY text, or JSON lines (``json=True``).

    :param stream: where to write (the app's stdout).
    :param fmt: the ``-f`` choice: ``'json'`` forces JSON lines, ``'auto'``
        writes JSON lines unless ``stream`` is a terminal.
    :param width: columns of the bar line; None: the terminal's, asked at
        every refresh, so that a resized window is followed.
    """

    def __init__(self, stream, fmt='auto', width=None):
        self.stream = stream
        self.json = fmt == 'json' or not isatty(stream)
        self.width = width
        self._bar_open = False

    def update(self, upd):
        """One progress refresh: the bar line redrawn in place, or a JSON
        ``progress`` object.
        """
        if self.json:
            self.stream.write(
                progress.render_json('progress', **upd.as_dict()) + '\n'
            )
        else:
            self.stream.write(
                '\r' + progress.render_bar(upd, self._width()) + '\x1b[K'
            )
            self._bar_open = True
        self.stream.flush()

    def _width(self):
        if self.width is not None:
            return self.width
        return terminal_width(self.stream)

    def line(self, text, kind='notice', **fields):
        """A final or notice line: ``text`` on a TTY, a JSON object of type
        ``kind`` with ``message=text`` and ``fields`` otherwise.
        """
        if self._bar_open:
            self.stream.write('\n')
            self._bar_open = False
        if self.json:
            self.stream.write(
                progress.render_json(kind, message=text, **fields) + '\n'
            )
        else:
            self.stream.write(text + '\n')
        self.stream.flush()

    def record(self, kind, **fields):
        """A JSON object of type ``kind`` (JSON lines only)."""
        self.stream.write(progress.render_json(kind, **fields) + '\n')
        self.stream.flush()

    def text(self, text):
        """Raw terminal text (a redrawn table), written as given."""
        self.stream.write(text)
        self.stream.flush()
