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

from osc_livemigrate.follow import progress


def isatty(stream):
    """Whether ``stream`` is a terminal; False for anything that cannot say."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """One command's stdout: TTY text, or JSON lines (``json=True``).

    :param stream: where to write (the app's stdout).
    :param fmt: the ``-f`` choice: ``'json'`` forces JSON lines, ``'auto'``
        writes JSON lines unless ``stream`` is a terminal.
    """

    def __init__(self, stream, fmt='auto', width=100):
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
                '\r' + progress.render_bar(upd, self.width) + '\x1b[K'
            )
            self._bar_open = True
        self.stream.flush()

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
