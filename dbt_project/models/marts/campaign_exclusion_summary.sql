{#- Campaign exclusions summed up: per reason, and overall (overall_label()), the distinct
    customers and the revenue at stake (their monetary value, each customer counted once). -#}
with

exclusions as (
    select * from {{ ref('campaign_exclusions') }}
),

excluded_customers as (
    select
        customer_id,
        max(monetary) as monetary
    from exclusions
    group by customer_id
),

per_reason as (
    select
        reason,
        cast(count(*) as integer) as customers,
        cast(sum(monetary) as decimal(18, 2)) as revenue_at_stake
    from exclusions
    group by reason
),

overall as (
    select
        {{ overall_label() }} as reason,
        cast(count(*) as integer) as customers,
        cast(coalesce(sum(monetary), 0) as decimal(18, 2)) as revenue_at_stake
    from excluded_customers
),

summary as (
    select
        {{ as_of_date() }} as as_of,
        cast(reason as string) as reason,
        customers,
        revenue_at_stake
    from per_reason
    union all
    select
        {{ as_of_date() }} as as_of,
        cast(reason as string) as reason,
        customers,
        revenue_at_stake
    from overall
)

select * from summary
