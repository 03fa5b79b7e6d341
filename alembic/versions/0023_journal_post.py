"""Posting an entry is one server call: lock, check, chain, hash and insert in ``journal_post``.

The function runs as its caller (no SECURITY DEFINER): every trigger that guards the journal
still fires on its INSERTs — the chain, the Merkle node, the balance moves, the deferred balance
and reversal checks, append-only. What moves into the server is the work between the statements
a writer used to send one by one: the accounts locked in id order, then the chain head (the
lock order of every writer); the closed-period test; the special-cash test; the entry's
canonical text and its SHA-256, which must be byte for byte ``ledger.domain.canonical_entry``
(the Python definition is what ``ledger verify`` and an auditor recompute; a property test holds
the two together).

Expected refusals come back as an ``outcome`` rather than an error, so the caller words them:
``missing`` (an account of the entry has no chart yet: the caller makes it and calls again),
``closed`` (the period is closed), ``insufficient`` (special cash would go below zero; the
account, its balance and the change are returned). ``posted`` returns the entry's id, hash and
the hash it extends.

Revision ID: 0023_journal_post
Revises: 0022_bank_file_chunks
Create Date: 2026-12-01
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0023_journal_post"
down_revision: str | Sequence[str] | None = "0022_bank_file_chunks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UPGRADE = r"""
-- The bytes an entry's hash covers: ledger.domain.canonical_entry, as JSON with sorted keys, no
-- spaces, UTF-8, postings as [jurisdiction, fund, kind, side, amount] sorted by code point.
-- to_json escapes a string as Python's json.dumps(ensure_ascii=False) does.
CREATE FUNCTION journal_entry_canonical(
    p_id bigint, p_prev_hash text, p_kind text, p_memo text, p_effective_date date,
    p_document_type text, p_document_id text, p_reverses_id bigint, p_payload_digest text,
    p_created_by text, p_created_at timestamptz,
    p_jurisdictions text[], p_funds text[], p_kinds text[], p_sides text[], p_amounts bigint[]
) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '{"created_at":' || to_json(to_char(p_created_at AT TIME ZONE 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))::text
        || ',"created_by":' || to_json(p_created_by)::text
        || ',"document_id":' || coalesce(to_json(p_document_id)::text, 'null')
        || ',"document_type":' || coalesce(to_json(p_document_type)::text, 'null')
        || ',"effective_date":"' || to_char(p_effective_date, 'YYYY-MM-DD') || '"'
        || ',"id":' || p_id::text
        || ',"kind":' || to_json(p_kind)::text
        || ',"memo":' || to_json(p_memo)::text
        || ',"payload_digest":' || coalesce(to_json(p_payload_digest)::text, 'null')
        || ',"postings":[' || coalesce((
               SELECT string_agg('[' || to_json(j)::text || ',' || to_json(f)::text || ','
                                 || to_json(k)::text || ',' || to_json(s)::text || ',' || m::text
                                 || ']', ','
                                 ORDER BY j COLLATE "C", f COLLATE "C", k COLLATE "C",
                                          s COLLATE "C", m)
                 FROM unnest(p_jurisdictions, p_funds, p_kinds, p_sides, p_amounts) t(j, f, k, s, m)
           ), '') || ']'
        || ',"prev_hash":' || to_json(p_prev_hash)::text
        || ',"reverses_id":' || coalesce(p_reverses_id::text, 'null')
        || '}'
$$;

CREATE FUNCTION journal_post(
    p_kind text, p_memo text, p_effective_date date, p_period char(6),
    p_document_type text, p_document_id text, p_reverses_id bigint, p_payload_digest text,
    p_created_by text, p_created_at timestamptz,
    p_jurisdictions text[], p_funds text[], p_kinds text[], p_sides text[], p_amounts bigint[],
    OUT outcome text, OUT entry_id bigint, OUT entry_hash text, OUT prev_hash text,
    OUT short_jurisdiction text, OUT short_fund text, OUT short_balance bigint,
    OUT short_change bigint
) LANGUAGE plpgsql AS $$
DECLARE
    wanted integer;
    locked integer;
    head record;
    short record;
BEGIN
    SELECT count(*) INTO wanted
      FROM (SELECT DISTINCT j, f, k FROM unnest(p_jurisdictions, p_funds, p_kinds) t(j, f, k)) d;
    -- The accounts first, in id order, then the chain head: every writer's lock order.
    PERFORM 1 FROM account
     WHERE (jurisdiction_code, fund_code, kind) IN
           (SELECT * FROM unnest(p_jurisdictions, p_funds, p_kinds))
     ORDER BY id FOR UPDATE;
    GET DIAGNOSTICS locked = ROW_COUNT;
    IF EXISTS (SELECT 1 FROM fiscal_period_close WHERE period >= p_period) THEN
        outcome := 'closed';
        RETURN;
    END IF;
    IF locked < wanted THEN
        outcome := 'missing';
        RETURN;
    END IF;
    SELECT t.j, t.f, a.balance_fen AS balance, t.change INTO short
      FROM (SELECT j, f, sum(CASE s WHEN 'D' THEN m ELSE -m END) AS change
              FROM unnest(p_jurisdictions, p_funds, p_kinds, p_sides, p_amounts) t(j, f, k, s, m)
             WHERE k = 'special_cash' GROUP BY j, f) t
      JOIN account a ON (a.jurisdiction_code, a.fund_code, a.kind) = (t.j, t.f, 'special_cash')
     WHERE a.balance_fen + t.change < 0
     ORDER BY t.j, t.f LIMIT 1;
    IF FOUND THEN
        outcome := 'insufficient';
        short_jurisdiction := short.j;
        short_fund := short.f;
        short_balance := short.balance;
        short_change := short.change;
        RETURN;
    END IF;
    SELECT seq, hash INTO head FROM chain_head FOR UPDATE;
    entry_id := head.seq + 1;
    prev_hash := head.hash;
    entry_hash := encode(sha256(convert_to(journal_entry_canonical(
        entry_id, prev_hash, p_kind, p_memo, p_effective_date, p_document_type, p_document_id,
        p_reverses_id, p_payload_digest, p_created_by, p_created_at,
        p_jurisdictions, p_funds, p_kinds, p_sides, p_amounts), 'UTF8')), 'hex');
    INSERT INTO journal_entry (id, kind, memo, effective_date, period, document_type, document_id,
                               reverses_id, payload_digest, created_by, created_at, prev_hash, hash)
    VALUES (entry_id, p_kind, p_memo, p_effective_date, p_period, p_document_type, p_document_id,
            p_reverses_id, p_payload_digest, p_created_by, p_created_at, prev_hash, entry_hash);
    INSERT INTO posting (entry_id, account_id, side, amount_fen)
    SELECT entry_id, a.id, t.s, t.m
      FROM unnest(p_jurisdictions, p_funds, p_kinds, p_sides, p_amounts) WITH ORDINALITY
           t(j, f, k, s, m, o)
      JOIN account a ON (a.jurisdiction_code, a.fund_code, a.kind) = (t.j, t.f, t.k)
     ORDER BY t.o;
    outcome := 'posted';
END $$;

-- A group poster's writes that are one entry each, in one call (ledger.uow.GroupPoster): for each
-- write, in its own subtransaction, what the unit of work does for it — claim the idempotency
-- key, post the entry (journal_post), record the answer under the key, append the audit row, run
-- the entry's deferred checks — so a refusal rolls back that write alone. Anything but a clean
-- post (a replayed key, a refusal, an error) comes back with nothing of it kept; the caller runs
-- that write again the ordinary way, which answers it as it always would.
CREATE FUNCTION journal_post_group(p_writes jsonb)
RETURNS TABLE (outcome text, entry_id bigint, entry_hash text, prev_hash text,
               error_state text, error_message text)
LANGUAGE plpgsql AS $$
DECLARE
    w jsonb;
    e jsonb;
    posted record;
BEGIN
    FOR w IN SELECT value FROM jsonb_array_elements(p_writes) LOOP
        outcome := NULL; entry_id := NULL; entry_hash := NULL; prev_hash := NULL;
        error_state := NULL; error_message := NULL;
        e := w -> 'entry';
        BEGIN
            IF w ->> 'key' IS NOT NULL THEN
                INSERT INTO idempotency_record (principal, key, operation, request_hash)
                VALUES (w ->> 'principal', w ->> 'key', w ->> 'operation', w ->> 'request_hash')
                ON CONFLICT (principal, operation, key) DO NOTHING;
                IF NOT FOUND THEN
                    outcome := 'replay';
                    RAISE EXCEPTION USING ERRCODE = 'LG000';
                END IF;
            END IF;
            SELECT * INTO posted FROM journal_post(
                e ->> 'kind', e ->> 'memo', (e ->> 'effective_date')::date, e ->> 'period',
                e ->> 'document_type', e ->> 'document_id', (e ->> 'reverses_id')::bigint,
                e ->> 'payload_digest', e ->> 'created_by', (e ->> 'created_at')::timestamptz,
                ARRAY(SELECT jsonb_array_elements_text(e -> 'jurisdictions')),
                ARRAY(SELECT jsonb_array_elements_text(e -> 'funds')),
                ARRAY(SELECT jsonb_array_elements_text(e -> 'kinds')),
                ARRAY(SELECT jsonb_array_elements_text(e -> 'sides')),
                ARRAY(SELECT jsonb_array_elements_text(e -> 'amounts')::bigint));
            IF posted.outcome <> 'posted' THEN
                outcome := posted.outcome;
                RAISE EXCEPTION USING ERRCODE = 'LG000';
            END IF;
            IF w ->> 'key' IS NOT NULL THEN
                UPDATE idempotency_record
                   SET status_code = (w ->> 'status')::integer,
                       -- PostedEntry.as_dict(), as the ordinary path records it (a test holds them equal)
                       response = jsonb_build_object(
                           'entry_id', posted.entry_id, 'hash', posted.entry_hash,
                           'prev_hash', posted.prev_hash, 'kind', e ->> 'kind',
                           'effective_date', e ->> 'effective_date')
                 WHERE principal = w ->> 'principal' AND operation = w ->> 'operation'
                   AND key = w ->> 'key';
            END IF;
            INSERT INTO audit_log (user_id, username, bureau_id, role, action, object_type,
                                   object_id, request_id, client_addr, outcome, status_code,
                                   detail)
            SELECT a.user_id, a.username, a.bureau_id, a.role, a.action, a.object_type,
                   a.object_id, a.request_id, a.client_addr, a.outcome, a.status_code,
                   coalesce(a.detail, '{}'::jsonb)
              FROM jsonb_populate_record(NULL::audit_log, w -> 'audit') a;
            SET CONSTRAINTS journal_entry_balanced, journal_entry_reversal_approved IMMEDIATE;
            SET CONSTRAINTS journal_entry_balanced, journal_entry_reversal_approved DEFERRED;
            outcome := 'posted';
            entry_id := posted.entry_id;
            entry_hash := posted.entry_hash;
            prev_hash := posted.prev_hash;
        EXCEPTION WHEN OTHERS THEN
            IF SQLSTATE <> 'LG000' THEN
                outcome := 'error';
                error_state := SQLSTATE;
                error_message := SQLERRM;
            END IF;
        END;
        RETURN NEXT;
    END LOOP;
END $$;
"""

DOWNGRADE = r"""
DROP FUNCTION journal_post_group(jsonb);
DROP FUNCTION journal_post(text, text, date, char, text, text, bigint, text, text, timestamptz,
                           text[], text[], text[], text[], bigint[]);
DROP FUNCTION journal_entry_canonical(bigint, text, text, text, date, text, text, bigint, text,
                                      text, timestamptz, text[], text[], text[], text[], bigint[]);
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
