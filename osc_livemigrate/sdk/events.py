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
"""Instance action events: the failures nova recorded and the names the
driver left.
"""


def _newest_action_events(compute, server_id, action_name, unread=()):
    """Getters of the events of the server's newest action of a kind, as
    nova lists them; [] when there is none, ``unread`` when it cannot be
    read (best effort).
    """
    try:
        actions = [
            a
            for a in compute.server_actions(server_id)
            if getattr(a, 'action', None) == action_name
        ]
        if not actions:
            return []
        newest = max(actions, key=lambda a: a.start_time or '')
        full = compute.get_server_action(newest.request_id, server_id)
    except Exception:  # noqa: BLE001 - best effort, see docstring
        return unread
    out = []
    for ev in getattr(full, 'events', None) or []:
        get = (
            ev.get
            if isinstance(ev, dict)
            else lambda k, ev=ev: getattr(ev, k, None)
        )
        out.append(get)
    return out


def failed_events(compute, server_id, action_name='live-migration', unread=()):
    """``(event, message)`` of failed events in the newest action of a kind;
    ``unread`` when they cannot be read.

    Used only once a wait has ended, to say why; errors here never hide the
    verdict, so they are swallowed.
    """
    events = _newest_action_events(compute, server_id, action_name, unread)
    if events is unread:
        return unread
    out = []
    for get in events:
        if get('result') and get('result') != 'Success':
            msg = (
                get('details')
                or (get('traceback') or '').strip().splitlines()[-1:]
                or [get('result')]
            )
            out.append((get('event'), msg if isinstance(msg, str) else msg[0]))
    return out


def event_names(compute, server_id, action_name='live-migration'):
    """Event names of the server's newest action of a kind, oldest first."""
    events = _newest_action_events(compute, server_id, action_name)
    return [
        get('event')
        for get in sorted(events, key=lambda get: get('start_time') or '')
    ]
