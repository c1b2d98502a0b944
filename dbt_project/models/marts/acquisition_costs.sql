{#- Cost per acquisition (CAC) per acquisition channel and month: marketing spend of the
    channel and month (sum of its lines) / customers acquired through it that month (first
    qualifying order in the month, on that channel). One row per month and channel with spend or
    new customers, plus the overall row per month (overall_label(), blended CAC). CAC is null
    without new customers, or when no spend was recorded (spend null, not 0: unknown). The
    as-of month is partial (is_partial_month). -#}
with

acquisition as (
    select * from {{ ref('int_customers__acquisition') }}
),

marketing_spend as (
    select * from {{ ref('stg_marketing_spend') }}
),

new_customers as (
    select
        acquisition_month,
        acquisition_channel,
        count(*) as new_customers
    from acquisition
    group by acquisition_month, acquisition_channel
),

channel_spend as (
    select
        spend_month as acquisition_month,
        channel as acquisition_channel,
        sum(spend) as spend
    from marketing_spend
    where spend_month <= {{ as_of_date() }}
    group by spend_month, channel
),

per_channel as (
    select
        coalesce(channel_spend.acquisition_month, new_customers.acquisition_month)
            as acquisition_month,
        coalesce(channel_spend.acquisition_channel, new_customers.acquisition_channel)
            as acquisition_channel,
        channel_spend.spend,
        coalesce(new_customers.new_customers, 0) as new_customers
    from channel_spend
    full outer join new_customers
        on
            channel_spend.acquisition_month = new_customers.acquisition_month
            and channel_spend.acquisition_channel = new_customers.acquisition_channel
),

with_overall as (
    select acquisition_month, acquisition_channel, spend, new_customers from per_channel
    union all
    select
        acquisition_month,
        {{ overall_label() }} as acquisition_channel,
        sum(spend) as spend,
        sum(new_customers) as new_customers
    from per_channel
    group by acquisition_month
),

costs as (
    select
        {{ as_of_date() }} as as_of,
        cast(acquisition_month as date) as acquisition_month,
        cast(acquisition_channel as string) as acquisition_channel,
        cast(spend as decimal(18, 2)) as spend,
        cast(new_customers as integer) as new_customers,
        {{ safe_divide('spend', 'new_customers') }} as cac,
        acquisition_month = {{ period_start(as_of_date(), 'month') }} as is_partial_month
    from with_overall
)

select * from costs
