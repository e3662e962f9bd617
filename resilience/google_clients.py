"""The one place Google Cloud clients are built; everything else receives them.

The google-cloud packages are imported inside the builders: importing them costs about a second and
a DuckDB-only run never needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from google.cloud import bigquery, firestore


def bigquery_client(project: str, endpoint: str | None = None) -> bigquery.Client:
    """A BigQuery client for ``project``.

    Without ``endpoint`` it uses application default credentials, as in production. With one (the
    local emulator, ``http://127.0.0.1:PORT``) it sends anonymous credentials there instead: the
    emulator checks none, and looking up default credentials would fail or, worse, pick up a real
    account on a developer's machine.
    """
    from google.cloud import bigquery

    if endpoint is None:
        return bigquery.Client(project=project)

    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]  # google-auth is unannotated
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def firestore_client(project: str) -> firestore.Client:
    """A Firestore client for ``project``.

    The library itself switches to the emulator, with anonymous credentials, when
    ``FIRESTORE_EMULATOR_HOST`` is set; otherwise it uses application default credentials.
    """
    from google.cloud import firestore

    return firestore.Client(project=project)
