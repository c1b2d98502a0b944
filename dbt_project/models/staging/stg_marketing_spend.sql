{#- Marketing spend lines, dated by the first day of their month; several lines of one month
    and channel are kept apart here and summed by the marts. -#}
with

marketing_spend as (
    select * from {{ source('clean', 'marketing_spend') }}
),

renamed as (
    select
        spend_id,
        {{ period_start('month', 'month') }} as spend_month,
        lower(trim(channel)) as channel,
        cast(spend as decimal(18, 2)) as spend
    from marketing_spend
)

select * from renamed
