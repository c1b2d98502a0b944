{#- Raw RFM measures per master customer with at least one qualifying order in the scoring
    window, plus the counts the KPIs and exclusions need. -#}
with

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

attributed_refunds as (
    select * from {{ ref('int_refunds__attributed') }}
),

windowed_tickets as (
    select * from {{ ref('int_support_tickets__scoring_window') }}
),

{# One pass over the qualifying orders: the window measures count only the orders in the scoring
    window (case when: portable, unlike filter (where ...)), the first order date all of them.
    A count, not count(distinct order_id): order_id is unique (tested on int_orders__qualifying),
    and hashing every order id cost more than the rest of the aggregation. -#}
order_totals as (
    select
        customer_id,
        sum(case when is_in_scoring_window then 1 else 0 end) as frequency,
        sum(case when is_in_scoring_window then amount end) as gross_amount,
        max(case when is_in_scoring_window then order_date end) as last_order_date,
        min(order_date) as first_order_date,
        sum(case when is_in_scoring_window and is_returned then 1 else 0 end) as returned_orders,
        sum(case when is_in_scoring_window and has_promo then 1 else 0 end) as promo_orders
    from qualifying_orders
    group by customer_id
),

{# Scored customers: at least one qualifying order in the window. -#}
window_order_totals as (
    select *
    from order_totals
    where frequency > 0
),

window_refund_totals as (
    select
        customer_id,
        sum(amount) as refund_amount
    from attributed_refunds
    where is_in_scoring_window
    group by customer_id
),

window_ticket_totals as (
    select
        customer_id,
        count(distinct ticket_id) as tickets
    from windowed_tickets
    group by customer_id
),

customer_measures as (
    select
        window_order_totals.customer_id,
        cast(
            {{ dbt.datediff('window_order_totals.last_order_date', as_of_date(), 'day') }}
            as integer
        ) as recency_days,
        cast(window_order_totals.frequency as integer) as frequency,
        cast(window_order_totals.gross_amount as decimal(18, 2)) as gross_amount,
        {% if monetary_mode() == 'net' -%}
        cast(coalesce(window_refund_totals.refund_amount, 0) as decimal(18, 2)) as refund_amount,
        {%- else -%}
        cast(0 as decimal(18, 2)) as refund_amount,
        {%- endif %}
        window_order_totals.first_order_date,
        window_order_totals.last_order_date,
        cast(window_order_totals.returned_orders as integer) as returned_orders,
        cast(window_order_totals.promo_orders as integer) as promo_orders,
        cast(coalesce(window_ticket_totals.tickets, 0) as integer) as tickets
    from window_order_totals
    left join window_refund_totals  -- unread when monetary_mode is gross -- noqa: ST11
        on window_order_totals.customer_id = window_refund_totals.customer_id
    left join window_ticket_totals
        on window_order_totals.customer_id = window_ticket_totals.customer_id
),

with_monetary as (
    select
        customer_id,
        {{ as_of_date() }} as as_of,
        recency_days,
        frequency,
        gross_amount,
        refund_amount,
        cast(gross_amount - refund_amount as decimal(18, 2)) as monetary,
        {{ divide_to_cents('gross_amount - refund_amount', 'frequency') }} as avg_basket,
        first_order_date,
        last_order_date,
        {{ period_start('first_order_date', cohort_grain()) }} as cohort,
        returned_orders,
        promo_orders,
        tickets
    from customer_measures
)

select * from with_monetary
