{#- Segment migration matrices: for each pair of consecutive refreshes in segment_history, how
    many customers present in both (following merged customers through their surviving master
    id) went from each segment to each other one (the diagonal is
    customers who stayed), with their monetary value at both dates. Sparse: empty cells have no
    row. Incremental per pair of refreshes: a run computes the pairs it adds or makes stale
    (macros/history.sql), the others are kept. -#}
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

moves as (
    select
        consecutive_pairs.from_as_of,
        consecutive_pairs.to_as_of,
        before_refresh.segment as from_segment,
        after_refresh.segment as to_segment,
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
),

matrix as (
    select
        from_as_of,
        to_as_of,
        from_segment,
        to_segment,
        cast(count(*) as bigint) as customers,
        cast(sum(to_monetary) as decimal(18, 2)) as revenue,
        cast(sum(from_monetary) as decimal(18, 2)) as previous_revenue,
        merges_followed
    from moves
    group by from_as_of, to_as_of, from_segment, to_segment, merges_followed
),

with_shares as (
    select
        from_as_of,
        to_as_of,
        from_segment,
        to_segment,
        customers,
        revenue,
        previous_revenue,
        cast(customers as double)
        / cast(sum(customers) over (partition by from_as_of, from_segment) as double)
            as share_of_from_segment,
        merges_followed
    from matrix
)

select * from with_shares
