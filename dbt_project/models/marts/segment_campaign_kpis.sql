{#- Campaign results per segment: per campaign and the contacted customers' segment at the
    as-of date (overall_label() for the whole campaign, unscored_segment() for customers without a
    segment), the contacts sent, customers contacted and converted within the attribution window
    (var attribution_window_days; once per customer and campaign, see
    int_campaign_contacts__conversions), conversion rate, attributed orders and revenue (gross
    order amounts), cost (sum of the contacts' costs, null when none was given) and cost per
    conversion. is_window_complete is false while a contact's window still extends past the
    as-of date: the conversion rate can still grow. -#}
with

conversions as (
    select * from {{ ref('int_campaign_contacts__conversions') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

segmented as (
    select
        conversions.*,
        coalesce(customer_rfm.segment, {{ unscored_segment() }}) as segment
    from conversions
    left join customer_rfm
        on conversions.customer_id = customer_rfm.customer_id
),

grouped as (
    {{ with_overall_rows('segmented', 'kpi_segment') }}
),

campaign_totals as (
    select
        campaign_id,
        kpi_segment,
        sum(contacts) as contacts,
        count(*) as contacted_customers,
        sum(case when is_converted then 1 else 0 end) as converted_customers,
        sum(attributed_orders) as attributed_orders,
        sum(attributed_revenue) as revenue,
        sum(cost) as cost,
        min(first_contacted_on) as first_contacted_on,
        max(last_contacted_on) as last_contacted_on,
        max(window_end) as window_end
    from grouped
    group by campaign_id, kpi_segment
),

kpis as (
    select
        {{ as_of_date() }} as as_of,
        cast(campaign_id as string) as campaign_id,
        cast(kpi_segment as string) as segment,
        cast(contacts as integer) as contacts,
        cast(contacted_customers as integer) as contacted_customers,
        cast(converted_customers as integer) as converted_customers,
        {{ safe_divide('converted_customers', 'contacted_customers') }} as conversion_rate,
        cast(attributed_orders as integer) as attributed_orders,
        cast(revenue as decimal(18, 2)) as revenue,
        cast(cost as decimal(18, 2)) as cost,
        {{ safe_divide('cost', 'converted_customers') }} as cost_per_conversion,
        {{ safe_divide('revenue', 'contacted_customers') }} as revenue_per_contacted_customer,
        first_contacted_on,
        last_contacted_on,
        cast({{ attribution_window_days() }} as integer) as attribution_window_days,
        window_end <= {{ as_of_date() }} as is_window_complete
    from campaign_totals
)

select * from kpis
