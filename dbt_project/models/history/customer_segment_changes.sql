{#- Customers whose segment changed between two consecutive refreshes (present in both): from
    which segment to which, with both as-of dates. A customer merged into another in between is
    followed through the surviving master id. Incremental per pair of refreshes: a run computes
    the pairs it adds or makes stale (macros/history.sql), the others are kept. -#}
{{ config(**refresh_pairs_config()) }}

with

segment_history as (
    select * from {{ ref('segment_history') }}
),

successors as (
    select * from {{ ref('stg_master_id_successors') }}
),

pairs_with_merges as (
    {{ refresh_pairs_with_merges('segment_history', 'successors') }}
),

-- Only the pairs this run must compute (all of them on a first build): a monthly refresh adds
-- one pair instead of rebuilding the whole history (see delete_stale_refresh_pairs).
consecutive_pairs as (
    {{ refresh_pairs_to_build('pairs_with_merges') }}
),

pair_rows as (
    {{ refresh_pair_rows('segment_history', 'consecutive_pairs') }}
),

-- Earlier-refresh rows keyed by the master id at the later refresh (merges followed).
before_refresh_followed as (
    {{ earlier_refresh_rows_followed('pair_rows', 'consecutive_pairs', 'successors') }}
),

changes as (
    select
        after_refresh.customer_id,
        consecutive_pairs.from_as_of,
        consecutive_pairs.to_as_of,
        before_refresh.segment as from_segment,
        after_refresh.segment as to_segment,
        before_refresh.rfm_code as from_rfm_code,
        after_refresh.rfm_code as to_rfm_code,
        before_refresh.monetary as from_monetary,
        after_refresh.monetary as to_monetary,
        consecutive_pairs.merges_followed
    from consecutive_pairs
    inner join before_refresh_followed as before_refresh
        on
            consecutive_pairs.from_as_of = before_refresh.from_as_of
            and consecutive_pairs.to_as_of = before_refresh.to_as_of
    inner join pair_rows as after_refresh
        on
            consecutive_pairs.to_as_of = after_refresh.as_of
            and before_refresh.customer_id = after_refresh.customer_id
    where
        before_refresh.segment <> after_refresh.segment
        or (before_refresh.segment is null and after_refresh.segment is not null)
        or (before_refresh.segment is not null and after_refresh.segment is null)
)

select * from changes
