{#- Segment migration matrices: for each pair of consecutive refreshes in segment_history, how
    many customers present in both (following merged customers through their surviving master
    id) went from each segment to each other one (the diagonal is
    customers who stayed), with their monetary value at both dates. Sparse: empty cells have no
    row. Rebuilt from the whole history on each run. -#}
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

moves as (
    select
        consecutive_pairs.from_as_of,
        consecutive_pairs.to_as_of,
        before_refresh.segment as from_segment,
        after_refresh.segment as to_segment,
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
),

matrix as (
    select
        from_as_of,
        to_as_of,
        from_segment,
        to_segment,
        cast(count(*) as bigint) as customers,
        cast(sum(to_monetary) as decimal(18, 2)) as revenue,
        cast(sum(from_monetary) as decimal(18, 2)) as previous_revenue
    from moves
    group by from_as_of, to_as_of, from_segment, to_segment
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
            as share_of_from_segment
    from matrix
)

select * from with_shares
