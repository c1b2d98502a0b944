{#- Acquisition month-of-year comparison (e.g. January vs July cohorts) over the first 3, 6 and
    12 months since acquisition: average revenue per customer (CLV), orders per customer
    (purchase frequency), share of orders with a promo code and average discount per order
    (sensitivity to promotions). Only customers acquired at least k full months before the
    as-of month count for a k-month figure (customers_<k>m of them, orders_<k>m orders). Always
    monthly, whatever var cohort_grain says. -#}
{%- set horizons = [3, 6, 12] %}
with

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

customer_months as (
    select * from {{ ref('int_customer_months__activity') }}
),

integers as (
    {{ integers_0_to_999() }}
),

months_of_year as (
    select n as acquisition_month
    from integers
    where n between 1 and 12
),

-- Select items repeated by a jinja loop defeat sqlfluff's indent check: -- noqa: disable=LT02
customer_windows as (
    select
        cohorts.customer_id,
        cohorts.cohort_month,
        cast(extract(month from cohorts.cohort_month) as integer) as acquisition_month,
        cohorts.months_observed,
        {%- for k in horizons %}
        sum(case when customer_months.month_index < {{ k }} then customer_months.revenue else 0 end)
            as revenue_{{ k }}m,
        sum(case when customer_months.month_index < {{ k }} then customer_months.orders else 0 end)
            as orders_{{ k }}m,
        sum(case when customer_months.month_index < {{ k }}
            then customer_months.promo_orders else 0 end) as promo_orders_{{ k }}m,
        sum(case when customer_months.month_index < {{ k }}
            then customer_months.discount_amount else 0 end) as discount_{{ k }}m
        {{- "," if not loop.last }}
        {%- endfor %}
    from cohorts
    inner join customer_months
        on cohorts.customer_id = customer_months.customer_id
    group by
        cohorts.customer_id,
        cohorts.cohort_month,
        cohorts.months_observed
),

month_totals as (
    select
        acquisition_month,
        count(distinct cohort_month) as cohorts,
        count(*) as customers,
        {%- for k in horizons %}
        sum(case when months_observed >= {{ k }} then 1 else 0 end) as customers_{{ k }}m,
        sum(case when months_observed >= {{ k }} then revenue_{{ k }}m else 0 end)
            as revenue_{{ k }}m,
        sum(case when months_observed >= {{ k }} then orders_{{ k }}m else 0 end)
            as orders_{{ k }}m,
        sum(case when months_observed >= {{ k }} then promo_orders_{{ k }}m else 0 end)
            as promo_orders_{{ k }}m,
        sum(case when months_observed >= {{ k }} then discount_{{ k }}m else 0 end)
            as discount_{{ k }}m
        {{- "," if not loop.last }}
        {%- endfor %}
    from customer_windows
    group by acquisition_month
),

comparison as (
    select
        cast(months_of_year.acquisition_month as integer) as acquisition_month,
        months_of_year.acquisition_month in (1, 7) as is_january_or_july,
        cast(coalesce(month_totals.cohorts, 0) as integer) as cohorts,
        cast(coalesce(month_totals.customers, 0) as integer) as customers,
        {%- for k in horizons %}
        cast(coalesce(month_totals.customers_{{ k }}m, 0) as integer) as customers_{{ k }}m,
        {{ safe_divide('month_totals.revenue_' ~ k ~ 'm', 'month_totals.customers_' ~ k ~ 'm') }}
            as clv_{{ k }}m,
        {%- endfor %}
        {{ as_of_date() }} as as_of,
        {%- for k in horizons %}
        cast(coalesce(month_totals.orders_{{ k }}m, 0) as integer) as orders_{{ k }}m,
        {{ safe_divide('month_totals.orders_' ~ k ~ 'm', 'month_totals.customers_' ~ k ~ 'm') }}
            as orders_per_customer_{{ k }}m,
        {{ safe_divide('month_totals.promo_orders_' ~ k ~ 'm', 'month_totals.orders_' ~ k ~ 'm') }}
            as promo_order_share_{{ k }}m,
        {{ safe_divide('month_totals.discount_' ~ k ~ 'm', 'month_totals.orders_' ~ k ~ 'm') }}
            as avg_discount_{{ k }}m
        {{- "," if not loop.last }}
        {%- endfor %}
    from months_of_year
    left join month_totals
        on months_of_year.acquisition_month = month_totals.acquisition_month
)

-- noqa: enable=LT02
select * from comparison
