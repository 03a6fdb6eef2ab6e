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
"""SDK error translation: only ``CommandError`` reaches the user.

openstacksdk and keystoneauth exceptions are translated here, once, into
a message that names what was asked and what to do next.
"""

import contextlib


def command_error(msg):
    from osc_lib import exceptions

    return exceptions.CommandError(msg)


def _detail(exc):
    detail = getattr(exc, 'details', None) or str(exc)
    return str(detail).strip().rstrip('.')


def translate_error(exc, what, hint=None, not_found=None):
    """The CommandError for one openstacksdk exception (see
    :func:`sdk_errors`).
    """
    from openstack import exceptions as sdk_exc

    if isinstance(exc, sdk_exc.ResourceNotFound):
        return command_error(
            not_found
            or '%s: not found (%s)%s' % (what, _detail(exc), _tail(hint))
        )
    if isinstance(exc, sdk_exc.ForbiddenException):
        return command_error(
            '%s: forbidden by nova policy (%s); this usually needs '
            'the admin role%s' % (what, _detail(exc), _tail(hint))
        )
    if isinstance(exc, sdk_exc.HttpException):
        return command_error(
            '%s failed (HTTP %s): %s%s'
            % (
                what,
                getattr(exc, 'status_code', None) or '?',
                _detail(exc),
                _tail(hint),
            )
        )
    return command_error('%s failed: %s%s' % (what, _detail(exc), _tail(hint)))


TOKEN_HINT = (
    'a token passed with --os-token cannot be renewed once it '
    'expires or is revoked; for long waits authenticate with a password '
    'or an application credential, which are renewed as needed'
)


def translate_auth_error(exc, what, hint=None):
    """The CommandError for a keystoneauth failure: the cloud unreachable, or
    the credentials refused while (re)authenticating (an expired token reads
    "Failed to validate token (HTTP 404)", which says nothing to an operator).
    """
    from keystoneauth1 import exceptions as ksa_exc

    if isinstance(exc, ksa_exc.ConnectionError):
        err = command_error(
            '%s failed: cannot reach the cloud (%s)%s'
            % (what, _detail(exc), _tail(hint))
        )
        err.transient = True
        return err
    return command_error(
        '%s failed: authentication was refused (%s); %s%s'
        % (what, _detail(exc), TOKEN_HINT, _tail(hint))
    )


#: refreshes in a row that may fail to reach the cloud before a wait gives up
UNREACHABLE_RETRIES = 5
#: keystoneauth's own retries of each request a refresh makes
REQUEST_RETRIES = 3
#: what a restarting API or the proxy in front of it answers with
RETRIABLE_STATUS_CODES = (429, 502, 503, 504)
_KSA_RETRIES = ('connect_retries', 'status_code_retries')


@contextlib.contextmanager
def ksa_retries(adapter):
    """keystoneauth's ``connect_retries`` and ``status_code_retries`` on
    ``adapter`` (the compute proxy, a keystoneauth ``Adapter``) while the
    block runs; values the cloud's configuration set are kept.

    A refused or reset connection and a 429/502/503/504 answer are then
    retried inside keystoneauth, request by request, with its growing
    delay, and a refresh that meets a blip returns as if there was none.
    Only the refreshes of a wait use it: its requests read, or abort, and
    may be repeated.
    """
    saved = {
        name: getattr(adapter, name, None)
        for name in _KSA_RETRIES + ('retriable_status_codes',)
    }
    for name in _KSA_RETRIES:
        if saved[name] is None:
            setattr(adapter, name, REQUEST_RETRIES)
    if saved['status_code_retries'] is None:
        adapter.retriable_status_codes = list(RETRIABLE_STATUS_CODES)
    try:
        yield adapter
    finally:
        for name, value in saved.items():
            setattr(adapter, name, value)


def ride_out_unreachable(refresh, notice, sleep, interval, adapter=None):
    """Call ``refresh()`` and return what it returns, riding out a cloud
    that cannot be reached for a while.

    Two layers. Each request ``refresh`` makes through ``adapter`` is
    retried by keystoneauth itself (:func:`ksa_retries`): that covers the
    short blips (a reset keep-alive connection, a 503 while an API
    restarts). What keystoneauth's retries do not do is kept here: when a
    refresh still cannot reach the cloud (``transient`` errors, see
    :func:`translate_auth_error`), the user is told through
    ``notice(line)`` (keystoneauth only logs), and the whole refresh is run
    again after ``sleep(interval)``, the wait's own pace rather than
    keystoneauth's delay that grows to a minute, at most
    ``UNREACHABLE_RETRIES`` times in a row. A refresh is several requests,
    and renewing an expired token is a request of the auth plugin, which
    the adapter's retries do not cover; this loop covers both. Any other
    error is raised at once, as is the last unreachable one.

    :param adapter: the keystoneauth ``Adapter`` the refresh uses, or None.
    """
    for failures in range(1, UNREACHABLE_RETRIES + 2):
        try:
            if adapter is None:
                return refresh()
            with ksa_retries(adapter):
                return refresh()
        except Exception as e:  # noqa: BLE001 - re-raised unless transient
            if (
                not getattr(e, 'transient', False)
                or failures > UNREACHABLE_RETRIES
            ):
                raise
            notice('%s; retrying (%d/%d)' % (e, failures, UNREACHABLE_RETRIES))
            sleep(interval)


@contextlib.contextmanager
def sdk_errors(what, hint=None, not_found=None):
    """Turn openstacksdk and keystoneauth exceptions into a CommandError
    naming ``what``.

    :param what: the request in the user's words, e.g. ``'abort migration 7
        of server vm1'``.
    :param hint: appended to every message: what the user can do next.
    :param not_found: the whole message for a 404 (nova's own text is
        usually a bare "not found").
    :raises osc_lib.exceptions.CommandError: for any SDK error.
    """
    from keystoneauth1 import exceptions as ksa_exc
    from openstack import exceptions as sdk_exc

    try:
        yield
    except sdk_exc.SDKException as e:
        raise translate_error(e, what, hint, not_found) from None
    except ksa_exc.ClientException as e:
        raise translate_auth_error(e, what, hint) from None


def _tail(hint):
    return '. %s' % hint if hint else ''
