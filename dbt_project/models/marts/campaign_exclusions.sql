{#- Customers to keep out of priority campaigns: one row per (customer, reason), every reason that
    applies. Reasons: lost_segment, serial_returner, one_time_promo_buyer, support_heavy. -#}
with

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

rfm_values as (
    select * from {{ ref('int_customers__rfm_values') }}
),

segments as (
    select * from {{ ref('segments') }}
),

customer_facts as (
    select
        customer_rfm.customer_id,
        customer_rfm.segment,
        customer_rfm.monetary,
        customer_rfm.frequency,
        rfm_values.returned_orders,
        rfm_values.promo_orders,
        rfm_values.tickets,
        coalesce(segments.is_excluded_from_priority_campaigns, false) as is_excluded_segment,
        cast(rfm_values.returned_orders as double) / cast(customer_rfm.frequency as double)
            as return_rate,
        cast(rfm_values.tickets as double) / cast(customer_rfm.frequency as double)
            as tickets_per_order
    from customer_rfm
    inner join rfm_values
        on customer_rfm.customer_id = rfm_values.customer_id
    left join segments
        on customer_rfm.segment = segments.segment
),

reasons as (
    select customer_id, 'lost_segment' as reason
    from customer_facts
    where is_excluded_segment
    union all
    select customer_id, 'serial_returner' as reason
    from customer_facts
    where frequency >= 2 and return_rate > {{ run_var('serial_returner_rate') | float }}
    union all
    select customer_id, 'one_time_promo_buyer' as reason
    from customer_facts
    where frequency = 1 and promo_orders = 1
    union all
    select customer_id, 'support_heavy' as reason
    from customer_facts
    where tickets_per_order > {{ run_var('support_heavy_ratio') | float }}
),

exclusions as (
    select
        reasons.customer_id,
        cast(reasons.reason as string) as reason,
        {{ as_of_date() }} as as_of,
        customer_facts.segment,
        customer_facts.monetary,
        customer_facts.frequency,
        customer_facts.returned_orders,
        customer_facts.return_rate,
        customer_facts.tickets,
        customer_facts.tickets_per_order
    from reasons
    inner join customer_facts
        on reasons.customer_id = customer_facts.customer_id
)

select * from exclusions
