"""posting a transaction in one round trip: the whole write as one SQL function

`post_transaction(user, draft, key, hash)` does what db-gateway did in ten
statements, each its own round trip through SQLAlchemy: the user's ledger lock
(and the Idempotency-Key's replay, without bumping the ledger version), the
checks against the user's accounts and categories (the accounts locked in id
order), the hidden counter-accounts made on first use, the transaction, its
postings and allocations, the balances moved, the key recorded. It returns
what the write answers, or raises with SQLSTATE FL404 / FL409 / FL422 and the
errors as JSON in DETAIL (db_gateway.transactions maps them to problems).
The double-entry checks (deferred triggers) still run at commit.

db_gateway.transactions checks the draft's shape (rules between its fields)
before calling it; this checks what needs the database. The messages are the
ones the Python checks wrote.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# the ISO 4217 minor units api_money uses (migration 0005), as a function
CURRENCY_SCALE = """
CREATE FUNCTION currency_scale(currency text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN currency IN ('BIF', 'CLP', 'DJF', 'GNF', 'ISK', 'JPY', 'KMF', 'KRW', 'PYG',
                          'RWF', 'UGX', 'UYI', 'VND', 'VUV', 'XAF', 'XOF', 'XPF') THEN 0
        WHEN currency IN ('BHD', 'IQD', 'JOD', 'KWD', 'LYD', 'OMR', 'TND') THEN 3
        WHEN currency IN ('CLF', 'UYW') THEN 4
        ELSE 2
    END
$$
"""

POST_TRANSACTION = r"""
CREATE FUNCTION post_transaction(p_user uuid, p_draft jsonb, p_key text, p_hash bytea)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    d_type text := p_draft->>'type';
    d_account uuid := (p_draft->>'account_id')::uuid;
    d_to_account uuid := (p_draft->>'to_account_id')::uuid;
    d_amount numeric := (p_draft->>'amount')::numeric;
    d_to_amount numeric := (p_draft->>'to_amount')::numeric;
    d_category uuid := (p_draft->>'category_id')::uuid;
    d_date date := (p_draft->>'date')::date;
    d_splits jsonb := coalesce(p_draft->'splits', '[]'::jsonb);
    d_tags varchar(50)[] := ARRAY(SELECT jsonb_array_elements_text(coalesce(p_draft->'tags', '[]')));
    v_version bigint;
    v_record record;
    src_found boolean := false;
    src_currency text;
    src_archived boolean;
    dst_found boolean := false;
    dst_currency text;
    dst_archived boolean;
    v_kinds jsonb;
    v_fields jsonb := '[]'::jsonb;
    v_errors jsonb := '[]'::jsonb;
    v_field record;
    v_kind text;
    v_units integer;
    v_tx uuid := gen_random_uuid();
    v_seq bigint;
    v_tx_version integer;
    v_created timestamptz;
    v_updated timestamptz;
    -- the postings: account, currency and amount of each
    v_leg_accounts uuid[];
    v_leg_currencies text[];
    v_leg_amounts numeric[];
    v_counter uuid;
    v_written jsonb;
    v_split_list jsonb := '[]'::jsonb;
    v_balances jsonb;
BEGIN
    -- The user's ledger lock: every write to a user's ledger takes it first.
    PERFORM 1 FROM users WHERE id = p_user FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user not found' USING ERRCODE = 'FL404', DETAIL = '[]';
    END IF;

    -- A key already used: its first answer (nothing is written, the ledger
    -- version does not move), with its accounts' balances as they are now.
    IF p_key IS NOT NULL THEN
        SELECT request_hash, response INTO v_record
            FROM idempotency_records WHERE user_id = p_user AND key = p_key;
        IF FOUND THEN
            IF v_record.request_hash <> p_hash THEN
                RAISE EXCEPTION 'this Idempotency-Key was already used with a different request body'
                    USING ERRCODE = 'FL422', HINT = 'idempotency_conflict',
                    DETAIL = '[{"field": "Idempotency-Key", "message": "reused with a different body"}]';
            END IF;
            SELECT coalesce(jsonb_agg(jsonb_build_object(
                    'account_id', a.id, 'currency', a.currency, 'balance', a.balance::text,
                    'version', a.version, 'updated_at', api_time(a.updated_at)) ORDER BY a.id), '[]')
                INTO v_balances
                FROM accounts a
                WHERE a.user_id = p_user AND a.system_role IS NULL
                  AND a.id IN ((v_record.response->'transaction'->>'account_id')::uuid,
                               (v_record.response->'transaction'->>'to_account_id')::uuid);
            RETURN v_record.response || jsonb_build_object('balances', v_balances, 'replayed', true);
        END IF;
    END IF;
    UPDATE users SET ledger_version = ledger_version + 1 WHERE id = p_user
        RETURNING ledger_version INTO v_version;

    -- The accounts, the user's own, locked in id order.
    FOR v_record IN
        SELECT id, currency, archived FROM accounts
        WHERE user_id = p_user AND system_role IS NULL AND id IN (d_account, d_to_account)
        ORDER BY id FOR UPDATE
    LOOP
        IF v_record.id = d_account THEN
            src_found := true; src_currency := v_record.currency; src_archived := v_record.archived;
        END IF;
        IF v_record.id = d_to_account THEN
            dst_found := true; dst_currency := v_record.currency; dst_archived := v_record.archived;
        END IF;
    END LOOP;

    -- The categories it names: the transaction's own, then each split's.
    IF d_category IS NOT NULL THEN
        v_fields := v_fields || jsonb_build_array(jsonb_build_object(
            'field', 'category_id', 'id', d_category));
    END IF;
    IF jsonb_array_length(d_splits) > 0 THEN
        SELECT v_fields || coalesce(jsonb_agg(jsonb_build_object(
                'field', 'splits[' || (s.n - 1) || '].category_id', 'id', s.item->>'category_id')
                ORDER BY s.n), '[]')
            INTO v_fields
            FROM jsonb_array_elements(d_splits) WITH ORDINALITY AS s (item, n);
    END IF;
    v_kinds := '{}'::jsonb;
    IF jsonb_array_length(v_fields) > 0 THEN
        SELECT coalesce(jsonb_object_agg(c.id::text, c.kind), '{}') INTO v_kinds
            FROM categories c
            WHERE c.user_id = p_user
              AND c.id IN (SELECT (f->>'id')::uuid FROM jsonb_array_elements(v_fields) f);
    END IF;

    -- 404: what is not the user's
    IF NOT src_found THEN
        v_errors := v_errors || '[{"field": "account_id", "message": "account not found"}]';
    END IF;
    IF d_to_account IS NOT NULL AND NOT dst_found THEN
        v_errors := v_errors || '[{"field": "to_account_id", "message": "account not found"}]';
    END IF;
    FOR v_field IN SELECT f->>'field' AS name, f->>'id' AS id FROM jsonb_array_elements(v_fields) f
    LOOP  -- (no rows, and no work, for a transfer)
        IF NOT v_kinds ? v_field.id THEN
            v_errors := v_errors || jsonb_build_array(jsonb_build_object(
                'field', v_field.name, 'message', 'category not found'));
        END IF;
    END LOOP;
    IF jsonb_array_length(v_errors) > 0 THEN
        RAISE EXCEPTION '%', (SELECT string_agg(e->>'field' || ': ' || (e->>'message'), '; ')
                              FROM jsonb_array_elements(v_errors) e)
            USING ERRCODE = 'FL404', DETAIL = v_errors::text;
    END IF;

    -- 409: archived accounts are read-only
    IF src_archived THEN
        v_errors := v_errors || '[{"field": "account_id", "message": "the account is archived"}]';
    END IF;
    IF dst_found AND dst_archived THEN
        v_errors := v_errors || '[{"field": "to_account_id", "message": "the account is archived"}]';
    END IF;
    IF jsonb_array_length(v_errors) > 0 THEN
        RAISE EXCEPTION 'archived accounts are read-only; unarchive the account first'
            USING ERRCODE = 'FL409', HINT = 'account_archived', DETAIL = v_errors::text;
    END IF;

    -- 422: the rest
    FOR v_field IN SELECT f->>'field' AS name, f->>'id' AS id FROM jsonb_array_elements(v_fields) f
    LOOP
        v_kind := v_kinds->>v_field.id;
        IF v_kind <> d_type THEN
            v_errors := v_errors || jsonb_build_array(jsonb_build_object('field', v_field.name,
                'message', 'is a ' || v_kind || ' category; this is an ' || d_type));
        END IF;
    END LOOP;
    v_units := currency_scale(src_currency);
    IF d_amount <> round(d_amount, v_units) THEN
        v_errors := v_errors || jsonb_build_array(jsonb_build_object('field', 'amount',
            'message', src_currency || ' amounts have at most ' || v_units || ' decimal places'));
    END IF;
    IF jsonb_array_length(d_splits) > 0 THEN
        SELECT v_errors || coalesce(jsonb_agg(jsonb_build_object(
                'field', 'splits[' || (s.n - 1) || '].amount',
                'message', src_currency || ' amounts have at most ' || v_units || ' decimal places')
                ORDER BY s.n), '[]')
            INTO v_errors
            FROM jsonb_array_elements(d_splits) WITH ORDINALITY AS s (item, n)
            WHERE (s.item->>'amount')::numeric <> round((s.item->>'amount')::numeric, v_units);
    END IF;
    IF dst_found THEN
        IF dst_currency = src_currency THEN
            IF d_to_amount IS NOT NULL AND d_to_amount <> d_amount THEN
                v_errors := v_errors || '[{"field": "to_amount", "message": "must equal amount between accounts of one currency (or be left out)"}]';
            END IF;
        ELSIF d_to_amount IS NULL THEN
            v_errors := v_errors || jsonb_build_array(jsonb_build_object('field', 'to_amount',
                'message', 'is required: the accounts hold ' || src_currency || ' and ' || dst_currency));
        ELSIF d_to_amount <> round(d_to_amount, currency_scale(dst_currency)) THEN
            v_errors := v_errors || jsonb_build_array(jsonb_build_object('field', 'to_amount',
                'message', dst_currency || ' amounts have at most '
                    || currency_scale(dst_currency) || ' decimal places'));
        END IF;
    END IF;
    IF jsonb_array_length(v_errors) > 0 THEN
        RAISE EXCEPTION '%', (SELECT string_agg(e->>'field' || ': ' || (e->>'message'), '; ')
                              FROM jsonb_array_elements(v_errors) e)
            USING ERRCODE = 'FL422', DETAIL = v_errors::text;
    END IF;

    -- The postings: in each currency they sum to zero.
    IF NOT dst_found THEN
        -- an expense or an income, against the hidden counter-account
        SELECT id INTO v_counter FROM accounts
            WHERE user_id = p_user AND system_role = d_type AND currency = src_currency;
        IF NOT FOUND THEN  -- its first use (the user's lock is held)
            v_counter := gen_random_uuid();
            INSERT INTO accounts (id, user_id, system_role, name, type, currency)
                VALUES (v_counter, p_user, d_type, d_type || ' (' || src_currency || ')',
                        'other', src_currency);
        END IF;
        v_leg_accounts := ARRAY[d_account, v_counter];
        v_leg_currencies := ARRAY[src_currency, src_currency];
        v_leg_amounts := CASE WHEN d_type = 'expense' THEN ARRAY[-d_amount, d_amount]
                              ELSE ARRAY[d_amount, -d_amount] END;
    ELSIF dst_currency = src_currency THEN
        v_leg_accounts := ARRAY[d_account, d_to_account];
        v_leg_currencies := ARRAY[src_currency, src_currency];
        v_leg_amounts := ARRAY[-d_amount, d_amount];
    ELSE
        -- across currencies, through the hidden exchange account of each currency
        INSERT INTO accounts (id, user_id, system_role, name, type, currency)
            SELECT gen_random_uuid(), p_user, 'exchange', 'exchange (' || c || ')', 'other', c
            FROM unnest(ARRAY[src_currency, dst_currency]) AS c
            ON CONFLICT (user_id, system_role, currency) WHERE system_role IS NOT NULL DO NOTHING;
        SELECT ARRAY[d_account, max(a.id::text) FILTER (WHERE a.currency = src_currency)::uuid,
                     max(a.id::text) FILTER (WHERE a.currency = dst_currency)::uuid, d_to_account]
            INTO v_leg_accounts
            FROM accounts a
            WHERE a.user_id = p_user AND a.system_role = 'exchange'
              AND a.currency IN (src_currency, dst_currency);
        v_leg_currencies := ARRAY[src_currency, src_currency, dst_currency, dst_currency];
        v_leg_amounts := ARRAY[-d_amount, d_amount, -d_to_amount, d_to_amount];
    END IF;

    INSERT INTO transactions (id, user_id, type, account_id, to_account_id, amount, currency,
                              to_amount, to_currency, category_id, date, description, notes,
                              tags, has_splits)
        VALUES (v_tx, p_user, d_type, d_account, d_to_account, d_amount, src_currency,
                CASE WHEN dst_found THEN coalesce(d_to_amount, d_amount) END, dst_currency,
                d_category, d_date, coalesce(p_draft->>'description', ''),
                coalesce(p_draft->>'notes', ''), d_tags, jsonb_array_length(d_splits) > 0)
        RETURNING seq, version, created_at, updated_at
        INTO v_seq, v_tx_version, v_created, v_updated;
    INSERT INTO postings (transaction_id, user_id, account_id, currency, amount)
        SELECT v_tx, p_user, l.account, l.currency, l.amount
        FROM unnest(v_leg_accounts, v_leg_currencies, v_leg_amounts) AS l (account, currency, amount);
    -- how the amount divides among categories: one row per split, or one
    IF d_type <> 'transfer' THEN
        IF jsonb_array_length(d_splits) = 0 THEN
            INSERT INTO allocations (transaction_id, user_id, kind, category_id, amount,
                                     description, position, date, seq)
                VALUES (v_tx, p_user, d_type, d_category, d_amount, '', 0, d_date, v_seq);
        ELSE
            INSERT INTO allocations (transaction_id, user_id, kind, category_id, amount,
                                     description, position, date, seq)
                SELECT v_tx, p_user, d_type, (s.item->>'category_id')::uuid,
                       (s.item->>'amount')::numeric, coalesce(s.item->>'description', ''),
                       s.n - 1, d_date, v_seq
                FROM jsonb_array_elements(d_splits) WITH ORDINALITY AS s (item, n);
        END IF;
    END IF;

    -- every balance moves by its postings, its version with it
    WITH change AS (
        SELECT l.id, sum(l.delta) AS delta
        FROM unnest(v_leg_accounts, v_leg_amounts) AS l (id, delta)
        GROUP BY l.id HAVING sum(l.delta) <> 0
    ), moved AS (
        UPDATE accounts a
        SET balance = a.balance + change.delta, version = a.version + 1, updated_at = now()
        FROM change WHERE a.id = change.id
        RETURNING a.id, a.currency, a.balance, a.version, a.updated_at, a.system_role
    )
    SELECT coalesce(jsonb_agg(jsonb_build_object(
            'account_id', m.id, 'currency', m.currency, 'balance', m.balance::text,
            'version', m.version, 'updated_at', api_time(m.updated_at)) ORDER BY m.id), '[]')
        INTO v_balances
        FROM moved m WHERE m.system_role IS NULL;

    IF jsonb_array_length(d_splits) > 0 THEN
        SELECT jsonb_agg(jsonb_build_object(
                'category_id', s.item->>'category_id', 'amount', s.item->>'amount',
                'description', coalesce(s.item->>'description', '')) ORDER BY s.n)
            INTO v_split_list
            FROM jsonb_array_elements(d_splits) WITH ORDINALITY AS s (item, n);
    END IF;
    v_written := jsonb_build_object(
        'transaction', jsonb_build_object(
            'id', v_tx, 'type', d_type, 'account_id', d_account, 'to_account_id', d_to_account,
            'amount', d_amount::text, 'currency', src_currency,
            'to_amount', CASE WHEN dst_found THEN coalesce(d_to_amount, d_amount)::text END,
            'to_currency', dst_currency, 'category_id', d_category,
            'splits', v_split_list,
            'date', d_date, 'description', coalesce(p_draft->>'description', ''),
            'notes', coalesce(p_draft->>'notes', ''), 'tags', to_jsonb(d_tags),
            'version', v_tx_version, 'seq', v_seq,
            'created_at', api_time(v_created), 'updated_at', api_time(v_updated)),
        'balances', '[]'::jsonb,
        'ledger_version', v_version,
        'replayed', false);
    IF p_key IS NOT NULL THEN
        -- the answer, for a retry (without the balances: by then they may have moved)
        INSERT INTO idempotency_records (user_id, key, request_hash, transaction_id, response)
            VALUES (p_user, p_key, p_hash, v_tx, v_written);
    END IF;
    RETURN v_written || jsonb_build_object('balances', v_balances);
END
$$
"""


def upgrade() -> None:
    op.execute(CURRENCY_SCALE)
    op.execute(POST_TRANSACTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION post_transaction(uuid, jsonb, text, bytea)")
    op.execute("DROP FUNCTION currency_scale(text)")
