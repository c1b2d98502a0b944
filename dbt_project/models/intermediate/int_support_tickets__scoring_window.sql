{#- Support tickets dated on or before the as-of date and inside the scoring window (var
    lookback_days): the tickets every KPI counts. A ticket without topic is 'unspecified'. -#}
with

support_tickets as (
    select * from {{ ref('stg_support_tickets') }}
),

windowed_tickets as (
    select
        ticket_id,
        customer_id,
        created_at,
        coalesce(topic, 'unspecified') as topic
    from support_tickets
    where
        created_at <= {{ as_of_date() }}
        and {{ in_scoring_window('created_at') }}
)

select * from windowed_tickets
