{#- Retention, orders and cumulative revenue per customer of every acquisition cohort, for each
    period since acquisition up to the as-of date (zero-activity periods included). -#}
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

cohort_sizes as (
    select
        cohort,
        count(*) as cohort_size,
        max(periods_observed) as last_period_index
    from cohorts
    group by cohort
),

cohort_periods as (
    select
        cohort_sizes.cohort,
        integers.n as period_index,
        cohort_sizes.cohort_size
    from cohort_sizes
    inner join integers
        on integers.n <= cohort_sizes.last_period_index
),

customer_periods as (
    select
        customer_id,
        cohort,
        period_index,
        sum(orders) as orders,
        sum(revenue) as revenue
    from customer_months
    group by customer_id, cohort, period_index
),

period_activity as (
    select
        cohort,
        period_index,
        sum(case when orders > 0 then 1 else 0 end) as active_customers,
        sum(orders) as orders,
        sum(revenue) as revenue
    from customer_periods
    group by cohort, period_index
),

retention as (
    select
        cohort_periods.cohort,
        cast('{{ cohort_grain() }}' as string) as cohort_grain,
        cast(cohort_periods.period_index as integer) as period_index,
        cast({{ dbt.dateadd(cohort_grain(), 'cohort_periods.period_index', 'cohort_periods.cohort') }}
            as date) as period_start,
        cast(cohort_periods.cohort_size as integer) as cohort_size,
        cast(coalesce(period_activity.active_customers, 0) as integer) as active_customers,
        cast(coalesce(period_activity.active_customers, 0) as double)
            / cast(cohort_periods.cohort_size as double) as retention_rate,
        cast(coalesce(period_activity.orders, 0) as integer) as orders,
        cast(coalesce(period_activity.revenue, 0) as decimal(18, 2)) as revenue,
        cast(sum(coalesce(period_activity.revenue, 0)) over (
            partition by cohort_periods.cohort
            order by cohort_periods.period_index
            rows between unbounded preceding and current row
        ) as double) / cast(cohort_periods.cohort_size as double) as clv_to_date,
        {{ as_of_date() }} as as_of
    from cohort_periods
    left join period_activity
        on
            cohort_periods.cohort = period_activity.cohort
            and cohort_periods.period_index = period_activity.period_index
)

select * from retention
