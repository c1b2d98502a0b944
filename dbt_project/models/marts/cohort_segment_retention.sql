{#- Cohort retention split by the customers' segment at the as-of date. Customers without a
    segment (not scored because all their orders are outside the scoring window) are left out. -#}
with

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

customer_months as (
    select * from {{ ref('int_customer_months__activity') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

integers as (
    {{ integers_0_to_999() }}
),

segmented_cohorts as (
    select
        cohorts.customer_id,
        cohorts.cohort,
        cohorts.periods_observed,
        customer_rfm.segment
    from cohorts
    inner join customer_rfm
        on cohorts.customer_id = customer_rfm.customer_id
),

group_sizes as (
    select
        cohort,
        segment,
        count(*) as cohort_size,
        max(periods_observed) as last_period_index
    from segmented_cohorts
    group by cohort, segment
),

group_periods as (
    select
        group_sizes.cohort,
        group_sizes.segment,
        integers.n as period_index,
        group_sizes.cohort_size
    from group_sizes
    inner join integers
        on integers.n <= group_sizes.last_period_index
),

customer_periods as (
    select
        customer_months.customer_id,
        segmented_cohorts.cohort,
        segmented_cohorts.segment,
        customer_months.period_index,
        sum(customer_months.orders) as orders,
        sum(customer_months.revenue) as revenue
    from customer_months
    inner join segmented_cohorts
        on customer_months.customer_id = segmented_cohorts.customer_id
    group by
        customer_months.customer_id,
        segmented_cohorts.cohort,
        segmented_cohorts.segment,
        customer_months.period_index
),

period_activity as (
    select
        cohort,
        segment,
        period_index,
        sum(case when orders > 0 then 1 else 0 end) as active_customers,
        sum(orders) as orders,
        sum(revenue) as revenue
    from customer_periods
    group by cohort, segment, period_index
),

retention as (
    select
        group_periods.cohort,
        group_periods.segment,
        cast('{{ cohort_grain() }}' as string) as cohort_grain,
        cast(group_periods.period_index as integer) as period_index,
        cast(group_periods.cohort_size as integer) as cohort_size,
        cast(coalesce(period_activity.active_customers, 0) as integer) as active_customers,
        cast(coalesce(period_activity.active_customers, 0) as double)
            / cast(group_periods.cohort_size as double) as retention_rate,
        cast(coalesce(period_activity.orders, 0) as integer) as orders,
        cast(coalesce(period_activity.revenue, 0) as decimal(18, 2)) as revenue,
        cast(sum(coalesce(period_activity.revenue, 0)) over (
            partition by group_periods.cohort, group_periods.segment
            order by group_periods.period_index
            rows between unbounded preceding and current row
        ) as double) / cast(group_periods.cohort_size as double) as clv_to_date,
        {{ as_of_date() }} as as_of
    from group_periods
    left join period_activity
        on
            group_periods.cohort = period_activity.cohort
            and group_periods.segment = period_activity.segment
            and group_periods.period_index = period_activity.period_index
)

select * from retention
