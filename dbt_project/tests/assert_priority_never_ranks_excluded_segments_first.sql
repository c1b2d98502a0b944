{#- segment_priority follows the seed's exclusions: a segment excluded from priority campaigns
    (Lost) ranks after every segment that is not excluded and has customers. -#}
with

priority as (
    select * from {{ ref('segment_priority') }}
),

excluded as (
    select segment, priority_rank from priority
    where is_excluded
),

eligible as (
    select segment, priority_rank from priority
    where not is_excluded and customers > 0
),

problems as (
    select
        excluded.segment,
        eligible.segment as ranked_after
    from excluded
    inner join eligible
        on excluded.priority_rank < eligible.priority_rank
)

select * from problems
