{#- Cohort retention split by the customers' segment at the as-of date. Customers without a
    segment (not scored because all their orders are outside the scoring window) are left out. -#}
with

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

cohort_periods as (
    select * from {{ ref('int_cohort_periods') }}
),

customer_periods as (
    select * from {{ ref('int_customer_periods__activity') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

segmented_cohorts as (
    select
        cohorts.customer_id,
        cohorts.cohort,
        customer_rfm.segment
    from cohorts
    inner join customer_rfm
        on cohorts.customer_id = customer_rfm.customer_id
),

group_sizes as (
    select
        cohort,
        segment,
        count(*) as cohort_size
    from segmented_cohorts
    group by cohort, segment
),

group_periods as (
    select
        group_sizes.cohort,
        group_sizes.segment,
        cohort_periods.period_index,
        cohort_periods.is_partial_period,
        group_sizes.cohort_size
    from group_sizes
    inner join cohort_periods
        on group_sizes.cohort = cohort_periods.cohort
),

period_activity as (
    select
        segmented_cohorts.cohort,
        segmented_cohorts.segment,
        customer_periods.period_index,
        sum(case when customer_periods.orders > 0 then 1 else 0 end) as active_customers,
        sum(customer_periods.orders) as orders,
        sum(customer_periods.revenue) as revenue
    from customer_periods
    inner join segmented_cohorts
        on customer_periods.customer_id = segmented_cohorts.customer_id
    group by
        segmented_cohorts.cohort,
        segmented_cohorts.segment,
        customer_periods.period_index
),

retention as (
    select
        group_periods.cohort,
        group_periods.segment,
        cast('{{ cohort_grain() }}' as string) as cohort_grain,
        group_periods.period_index,
        cast(group_periods.cohort_size as integer) as cohort_size,
        cast(coalesce(period_activity.active_customers, 0) as integer) as active_customers,
        {{ safe_divide('coalesce(period_activity.active_customers, 0)',
            'group_periods.cohort_size') }} as retention_rate,
        cast(coalesce(period_activity.orders, 0) as integer) as orders,
        cast(coalesce(period_activity.revenue, 0) as decimal(18, 2)) as revenue,
        {{ safe_divide('sum(coalesce(period_activity.revenue, 0)) over (
            partition by group_periods.cohort, group_periods.segment
            order by group_periods.period_index
            rows between unbounded preceding and current row
        )', 'group_periods.cohort_size') }} as clv_to_date,
        {{ as_of_date() }} as as_of,
        group_periods.is_partial_period
    from group_periods
    left join period_activity
        on
            group_periods.cohort = period_activity.cohort
            and group_periods.segment = period_activity.segment
            and group_periods.period_index = period_activity.period_index
)

select * from retention
