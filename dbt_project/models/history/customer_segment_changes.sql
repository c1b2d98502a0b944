{#- Customers whose segment changed between two consecutive refreshes (present in both): from
    which segment to which, with both as-of dates. A customer merged into another in between is
    followed through the surviving master id. Rebuilt from the whole history on each run. -#}
{{ config(materialized='table') }}

with

segment_history as (
    select * from {{ ref('segment_history') }}
),

successors as (
    select * from {{ ref('stg_master_id_successors') }}
),

consecutive_pairs as (
    {{ consecutive_refresh_pairs('segment_history') }}
),

-- Earlier-refresh rows keyed by the master id at the later refresh (merges followed).
before_refresh_followed as (
    {{ earlier_refresh_rows_followed('segment_history', 'consecutive_pairs', 'successors') }}
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
        after_refresh.monetary as to_monetary
    from consecutive_pairs
    inner join before_refresh_followed as before_refresh
        on
            consecutive_pairs.from_as_of = before_refresh.from_as_of
            and consecutive_pairs.to_as_of = before_refresh.to_as_of
    inner join segment_history as after_refresh
        on
            consecutive_pairs.to_as_of = after_refresh.as_of
            and before_refresh.customer_id = after_refresh.customer_id
    where
        before_refresh.segment <> after_refresh.segment
        or (before_refresh.segment is null and after_refresh.segment is not null)
        or (before_refresh.segment is not null and after_refresh.segment is null)
)

select * from changes
