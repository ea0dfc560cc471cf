"""/profile"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from ledger import export
from ledger import profile as service
from ledger.deps import Gateway
from ledger.routes.common import INVALID, UNAUTHORIZED
from ledger.schemas.export import ExportFormat, ProfileExport
from ledger.schemas.profile import ProfileDelete, ProfileRead, ProfileUpdate
from servicekit.credentials import ClientIp
from servicekit.errors import problem_responses
from servicekit.jwt import CurrentUser

router = APIRouter(prefix="/profile", tags=["profile"], responses=UNAUTHORIZED)


@router.get("")
async def get_profile(user: CurrentUser, gateway: Gateway) -> ProfileRead:
    """Who you are: email, display name, default currency and time zone."""
    return await service.get_profile(gateway=gateway, user_id=user.user_id)


@router.patch("", responses=INVALID)
async def update_profile(body: ProfileUpdate, user: CurrentUser, gateway: Gateway) -> ProfileRead:
    """Change your display name, default currency or time zone."""
    return await service.update_profile(gateway=gateway, user_id=user.user_id, change=body)


@router.delete(
    "",
    status_code=204,
    response_class=Response,
    responses=problem_responses(
        _403="password is wrong",
        _422="password missing",
        _429="Too many failed attempts; see Retry-After",
    ),
)
async def delete_profile(
    body: ProfileDelete,
    user: CurrentUser,
    request: Request,
    gateway: Gateway,
    client_ip: ClientIp,
) -> Response:
    """Delete your account for good: every account, transaction, category,
    budget and session of yours is erased, and every token you hold stops
    working at once. Needs your password; wrong passwords count toward the
    login throttle."""
    state = request.app.state
    await service.delete_profile(
        gateway=gateway,
        hasher=state.password_hasher,
        revocations=state.revocations,
        settings=state.settings,
        user_id=user.user_id,
        password=body.password,
        client_ip=client_ip,
    )
    return Response(status_code=204)


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "model": ProfileExport,
            "description": "The export, as a file to save (`Content-Disposition: attachment`)",
            "content": {
                "application/json": {},
                "text/csv": {"schema": {"type": "string"}},
            },
        },
        **INVALID,
    },
)
async def export_profile(
    user: CurrentUser,
    gateway: Gateway,
    export_format: Annotated[
        ExportFormat,
        Query(alias="format", description="`json` (everything) or `csv` (transactions only)"),
    ] = "json",
) -> StreamingResponse:
    """Download everything of yours.

    **`format=json`** (the default), `finledger-export-YYYY-MM-DD.json`: one
    object with your `profile`, `accounts` (archived ones included), `categories`,
    `budgets`, `exported_at` and every one of your `transactions`, newest first,
    each in the same shape as the rest of this API returns it (amounts are exact
    decimal strings). Opening balances are not transactions here: they are each
    account's `opening_balance`.

    **`format=csv`**, `finledger-transactions-YYYY-MM-DD.csv`: your transactions
    only, newest first, UTF-8, one row per transaction under the header
    `id,date,type,account_id,account_name,amount,currency,to_account_id,`
    `to_account_name,to_amount,to_currency,category_id,category_name,description,`
    `notes,tags,created_at,updated_at,splits`. Empty cells mean "none". `tags`
    are joined with `;`. A split transaction has no category of its own; its
    `splits` cell lists each part as `category name:amount`, joined with `;`
    (the amount is what follows the last `:`; split descriptions are in the JSON
    export only). Amounts are plain decimals. A text cell that a spreadsheet
    would run as a formula (one starting with `=`, `+`, `-`, `@`, a tab or a
    carriage return) is prefixed with `'`, so it shows as text.

    The date in the file name is today in your time zone. The file is streamed
    as it is read, so any size of ledger downloads in bounded memory; it is
    not one snapshot, though: a change you make while it downloads may or may
    not be in it. If the download fails midway the connection is closed early,
    so an incomplete file never looks complete: retry it.
    """
    started = await export.start_export(gateway=gateway, user_id=user.user_id)
    if export_format == "csv":
        body, media_type = export.csv_body(started), "text/csv; charset=utf-8"
        filename = started.filename("finledger-transactions", "csv")
    else:
        body, media_type = export.json_body(started), "application/json"
        filename = started.filename("finledger-export", "json")
    return StreamingResponse(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
            # nginx: pass each chunk on as it comes instead of buffering the file
            "X-Accel-Buffering": "no",
        },
    )
