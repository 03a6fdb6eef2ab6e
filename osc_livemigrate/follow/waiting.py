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
"""Follow live migrations and judge how they ended, for every command.

``server migrate --wait`` follows one server (:class:`Follower`),
``server migration watch`` a scope (:class:`Poller`), ``compute host
drain`` many servers; all three ask :func:`finished` when to stop and
:func:`judge` for the verdict, so "done" and "succeeded" mean the same
everywhere. Nothing here sleeps, prints or reads a clock: the commands do.
"""

import dataclasses
import json

from osc_livemigrate.follow import progress
from osc_livemigrate.follow import trust
from osc_livemigrate.follow import verdicts
from osc_livemigrate.sdk import errors
from osc_livemigrate.sdk import events
from osc_livemigrate.sdk import lookups
from osc_livemigrate.tables import contract


def busy(srv):
    """Whether nova is still working on the server (a task, MIGRATING)."""
    return (
        getattr(srv, 'task_state', None) is not None
        or (getattr(srv, 'status', '') or '').upper() == 'MIGRATING'
    )


def finished(srv, record):
    """Whether a live migration is over: the server is idle and its record
    (None when nova made none) no longer in flight.

    Nova clears the task state and moves the host a moment before it marks
    the record completed, so an idle server alone is not enough.
    """
    if busy(srv):
        return False
    return record is None or record.status not in progress.IN_FLIGHT


def verdict(source, srv, record, requested=None, refused=None, events=None):
    """The honest outcome of one live migration, from what the API said.

    :param source: the host the server was on before it started.
    :param srv: the server now; ``record`` its migration record (or None).
    :param requested: the policy the user asked for; if the driver reports
        that another one ran, that is a refusal too (the refusal itself is
        published once and soon overwritten, ``policy_used`` stays).
    :param refused: the refusal reason seen while following, if any.
    :param events: ``(event, message)`` of failed instance action events,
        or None when not read. Both ways of learning of a refusal are
        server metadata, which the server's owner can write: once the
        events are read, a refusal counts only if nova recorded the
        driver's event for it (:func:`trust.refusal_claim`).
    :returns: a :class:`verdicts.Outcome`.
    """
    status = getattr(record, 'status', None)
    host = getattr(srv, 'compute_host', None)
    keys = progress.driver_keys(
        getattr(srv, 'metadata', None), getattr(record, 'uuid', None)
    )
    used = keys.get('policy_used')
    if requested and used and used != requested and refused is None:
        refused = 'the driver ran policy %s instead of %s' % (used, requested)
    note = None
    if events is not None:
        refused, note = trust.refusal_claim(refused, [e for e, _ in events])
    outcome = verdicts.decide_outcome(
        source, host, status, keys, events or (), refused
    )
    if note:
        outcome = dataclasses.replace(
            outcome, reason='%s; %s' % (outcome.reason, note)
        )
    return outcome


def published_refusal(metadata, migration_uuid):
    """The driver's refusal of the requested policy for this migration.

    :returns: ``{'asked', 'used', 'reason'}`` (strings) from
        ``livemigrate:policy_refused``, or None: no refusal, or keys of
        another migration. A value that is not the driver's JSON is shown
        as the reason rather than dropped.
    """
    metadata = metadata or {}
    raw = metadata.get(contract.REFUSAL_KEY)
    if (
        not raw
        or not migration_uuid
        or metadata.get(contract.MIGRATION_KEY) != migration_uuid
    ):
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        value = {'reason': raw}
    used = value.get('used') or metadata.get(contract.PREFIX + 'policy_used')
    return {
        'asked': str(value.get('asked') or '?'),
        'used': str(used or '?'),
        'reason': str(value.get('reason') or raw),
    }


def refusal_line(server, refusal):
    """The one warning line for a refusal, which it read from server
    metadata. Example: ``Warning: owner-writable server metadata says the
    driver refused policy turbo for server vm1 and runs policy nova: server
    metadata asks for policy 'turbo', which is not installed (...)``.
    """
    return (
        'Warning: %(says)s the driver refused policy %(asked)s for server '
        '%(server)s and runs policy %(used)s: %(reason)s'
        % dict(refusal, server=server, says=trust.SAYS)
    )


def refusal_verdict(refusal):
    """What the final verdict says of a refusal (after "refused by the
    driver: ").
    """
    return 'policy %(asked)s refused, policy %(used)s ran: %(reason)s' % (
        refusal
    )


class RefusalNotices:
    """Tells each migration's published refusal once, as soon as it shows.

    The driver writes the refusal key with a migration's first status, so
    a migration is settled once its server's metadata names it; one whose
    bytes already flow without that (another driver, publishing off) is
    settled too, so ``watch`` stops reading its server.
    """

    def __init__(self):
        self._settled = set()

    def pending(self, migration_uuid):
        return bool(migration_uuid) and migration_uuid not in self._settled

    def new(self, migration_uuid, metadata, flowing=False):
        """:returns: the refusal the first time it is seen, else None."""
        if not self.pending(migration_uuid):
            return None
        metadata = metadata or {}
        if metadata.get(contract.MIGRATION_KEY) == migration_uuid or flowing:
            self._settled.add(migration_uuid)
        return published_refusal(metadata, migration_uuid)


def judge(
    compute, server_id, source, srv, record, requested=None, refused=None
):
    """:func:`verdict`, with nova's failed events as the why of a failure.

    The events cost two calls, so they are read only once the verdict is a
    failure; reading them never hides the verdict (see
    :func:`events.failed_events`).
    """
    outcome = verdict(source, srv, record, requested, refused)
    if outcome.ok:
        return outcome
    failed = events.failed_events(compute, server_id, unread=None)
    return verdict(source, srv, record, requested, refused, failed)


class Follower:
    """Refreshes one server's live migration, two calls while bytes flow.

    Per refresh: the server and the per-server migration (bytes); the
    ``/os-migrations`` listing only until the record appears, or once the
    per-server API stops listing it (finished, or hidden in post-copy).

    :param newest: the id of the server's newest live-migration record
        before this one started (older records are not ours), or None.
    :param bytes_ok: whether the microversion shows bytes (2.23).
    :param elapsed: callable, seconds since the wait began.
    """

    def __init__(self, compute, server, newest, bytes_ok, elapsed):
        self.compute, self.server = compute, server
        self.newest, self.bytes_ok, self.elapsed = newest, bytes_ok, elapsed
        self.label = server.name or server.id
        self.record = None
        self.tracker = progress.RateTracker()
        self._notices = RefusalNotices()
        #: the refusal this refresh revealed for the first time, or None
        self.new_refusal = None

    def refresh(self):
        """:returns: ``(server, progress.Update)``; ``self.record`` is the
        migration record as far as known.
        """
        compute, server, record = self.compute, self.server, self.record
        with errors.sdk_errors(
            'follow the migration of server %s' % self.label,
            hint='The migration goes on without us: follow it with '
            '`openstack server migration watch --server %s`' % self.label,
        ):
            srv = compute.get_server(server.id)
            live = None
            known = record is not None
            if known and self.bytes_ok and record.status in progress.IN_FLIGHT:
                live = lookups.in_progress_migration(
                    compute, record.id, server.id
                )
            if live is None and (
                record is None or record.status in progress.IN_FLIGHT
            ):
                record = (
                    lookups.latest_live_migration(
                        compute,
                        server.id,
                        newer_than=self.newest,
                        project_id=getattr(server, 'project_id', None),
                    )
                    or record
                )
                if (
                    not known
                    and record is not None
                    and self.bytes_ok
                    and record.status in progress.IN_FLIGHT
                ):
                    live = lookups.in_progress_migration(
                        compute, record.id, server.id
                    )
            if live is not None:
                record.status = live.status
        self.record = record
        upd = progress.make_update(
            self.label,
            live or record,
            getattr(srv, 'metadata', None),
            self.elapsed(),
            self.tracker,
            migration_uuid=getattr(record, 'uuid', None),
            status=getattr(record, 'status', None),
        )
        self.new_refusal = self._notices.new(
            upd.migration, getattr(srv, 'metadata', None)
        )
        return srv, upd

    @staticmethod
    def refused(upd):
        """The driver's reason when this update says it refused the policy."""
        if upd.action == contract.POLICY_REFUSED:
            return upd.reason or ''
        return None


def in_flight_records(compute, host=None):
    """The migrations in flight (of one host, or all), one listing per
    in-flight status.

    nova's /os-migrations filters on one status per request, and without
    one it returns the whole history (every finished migration since the
    database was created). A listing per in-flight status costs a fixed
    number of requests and only in-flight rows, however long the history.
    """
    query = {'host': host} if host else {}
    seen = {}
    for status in sorted(progress.IN_FLIGHT):
        for m in compute.migrations(status=status, **query):
            # NOTE: a record that moves on between two listings may show up
            # twice; the later listing wins (and one that has just ended is
            # dropped).
            if m.status in progress.IN_FLIGHT:
                seen[getattr(m, 'uuid', None) or m.id] = m
            else:
                seen.pop(getattr(m, 'uuid', None) or m.id, None)
    return sorted(seen.values(), key=lambda m: m.id or 0)


class Poller:
    """Fetches one refresh worth of Updates for a scope; no output, no sleep.

    Per refresh, for a server: its in-progress migrations and the server
    (name, the driver's phase). For a host or the whole cloud:
    :func:`in_flight_records`, then per in-flight migration the server and,
    for a live one, its bytes. Requests and rows grow with the migrations in
    flight, never with the cloud's migration history.

    :param compute: openstacksdk compute proxy.
    :param server_id: watch one server, or
    :param host: watch migrations from or to one host, or neither for all.
    """

    def __init__(self, compute, server_id=None, host=None, label=None):
        self.compute = compute
        self.server_id = server_id
        self.host = host
        self.label = label
        self._rates = {}
        self._notices = RefusalNotices()
        #: ``(server, migration, refusal)`` first seen by the last poll
        self.new_refusals = []

    def _server(self, server_id):
        """The server (name, metadata), or None once it is gone."""
        from openstack import exceptions as sdk_exc

        try:
            return self.compute.get_server(server_id)
        except sdk_exc.ResourceNotFound:
            return None

    def poll(self, elapsed_s):
        if self.server_id:
            records = [
                m
                for m in self.compute.server_migrations(self.server_id)
                if m.status in progress.IN_FLIGHT
            ]
            srv = self._server(self.server_id) if records else None
            triples = [(m, m, srv) for m in records]
        else:
            triples = []
            for m in in_flight_records(self.compute, self.host):
                live = None
                if getattr(m, 'migration_type', None) in (
                    None,
                    'live-migration',
                ):
                    live = lookups.in_progress_migration(
                        self.compute, m.id, m.server_id
                    )
                triples.append((m, live, self._server(m.server_id)))
        self.new_refusals = []
        updates = []
        for record, live, srv in triples:
            upd = self._update(record, live, srv, elapsed_s)
            updates.append(upd)
            self._look_for_refusal(record, srv, upd)
        return updates

    def _look_for_refusal(self, record, srv, upd):
        """Note, once, a refusal the driver published for this migration.

        The server was read for this refresh anyway (its name and phase),
        so looking costs no request.
        """
        uuid = getattr(record, 'uuid', None)
        if not self._notices.pending(uuid):
            return
        refusal = self._notices.new(
            uuid,
            getattr(srv, 'metadata', None),
            flowing=bool(upd.processed_bytes),
        )
        if refusal is not None:
            self.new_refusals.append((upd.server, uuid, refusal))

    def _update(self, record, live, srv, elapsed_s):
        key = getattr(record, 'uuid', None) or record.id
        tracker = self._rates.setdefault(key, progress.RateTracker())
        server_id = (
            getattr(record, 'server_id', None)
            or getattr(record, 'server_uuid', None)
            or self.server_id
        )
        name = getattr(srv, 'name', None) or self.label or server_id
        return progress.make_update(
            name,
            live or record,
            getattr(srv, 'metadata', None),
            elapsed_s,
            tracker,
            migration_uuid=getattr(record, 'uuid', None) or str(record.id),
            status=record.status,
        )
