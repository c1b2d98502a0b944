{#- The marketing marts add up to the clean inputs they summarise. One row per mismatch:
    - star products: at category level, the overall row's revenue equals the line revenue of the
      scored customers' non-returned qualifying orders in the window, and every segment's
      categories add up to the same total as the overall row;
    - campaigns: the overall row of each campaign counts every contact dated up to the as-of
      date, and its contacted customers are the sum of the per-segment rows;
    - acquisition costs: new customers over channels = customers with a qualifying order, spend
      over channels = spend lines dated up to the as-of date, each month's overall row = the sum
      of its channels;
    - exclusions: the overall summary row counts the distinct excluded customers. -#}
with

star_products as (
    select * from {{ ref('segment_star_products') }}
),

campaign_kpis as (
    select * from {{ ref('segment_campaign_kpis') }}
),

acquisition_costs as (
    select * from {{ ref('acquisition_costs') }}
),

exclusion_summary as (
    select * from {{ ref('campaign_exclusion_summary') }}
),

campaign_exclusions as (
    select * from {{ ref('campaign_exclusions') }}
),

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

order_lines as (
    select * from {{ ref('stg_order_lines') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

contacts as (
    select * from {{ ref('stg_campaign_contacts') }}
),

marketing_spend as (
    select * from {{ ref('stg_marketing_spend') }}
),

cohorts as (
    select * from {{ ref('int_customers__cohorts') }}
),

line_revenue as (
    select coalesce(sum(order_lines.line_amount), 0) as revenue
    from qualifying_orders
    inner join order_lines
        on qualifying_orders.order_id = order_lines.order_id
    where
        qualifying_orders.is_in_scoring_window
        and not qualifying_orders.is_returned
        and qualifying_orders.customer_id in (select customer_rfm.customer_id from customer_rfm)
),

category_revenue as (
    select
        sum(case when segment = {{ overall_label() }} then revenue else 0 end) as overall_revenue,
        sum(case when segment <> {{ overall_label() }} then revenue else 0 end) as segment_revenue
    from star_products
    where level = 'category'
),

contact_counts as (
    select campaign_id, count(*) as contacts
    from contacts
    where contacted_on <= {{ as_of_date() }}
    group by campaign_id
),

campaign_segments as (
    select
        campaign_id,
        sum(case when segment = {{ overall_label() }} then contacted_customers else 0 end)
            as overall_customers,
        sum(case when segment <> {{ overall_label() }} then contacted_customers else 0 end)
            as segment_customers
    from campaign_kpis
    group by campaign_id
),

acquisition_totals as (
    select
        sum(case when acquisition_channel <> {{ overall_label() }} then new_customers else 0 end)
            as new_customers,
        sum(case when acquisition_channel <> {{ overall_label() }} then spend else 0 end) as spend
    from acquisition_costs
),

monthly_blend as (
    select
        acquisition_month,
        sum(case when acquisition_channel = {{ overall_label() }} then new_customers else 0 end)
            as overall_customers,
        sum(case when acquisition_channel <> {{ overall_label() }} then new_customers else 0 end)
            as channel_customers,
        sum(
            case when acquisition_channel = {{ overall_label() }} then coalesce(spend, 0) else 0 end
        )
            as overall_spend,
        sum(
            case
                when acquisition_channel <> {{ overall_label() }} then coalesce(spend, 0) else 0
            end
        )
            as channel_spend
    from acquisition_costs
    group by acquisition_month
),

overall_campaign_kpis as (
    select
        campaign_id,
        contacts
    from campaign_kpis
    where segment = {{ overall_label() }}
),

problems as (
    select 'star products: category revenue differs from the order lines' as problem
    from category_revenue
    cross join line_revenue
    where
        category_revenue.overall_revenue <> line_revenue.revenue
        or category_revenue.segment_revenue <> line_revenue.revenue
    union all
    select
        {{ dbt.concat([
            "'campaign '",
            "coalesce(contact_counts.campaign_id, overall_campaign_kpis.campaign_id)",
            "': contacts differ from the contacts export'",
        ]) }} as problem
    from contact_counts
    full outer join overall_campaign_kpis
        on contact_counts.campaign_id = overall_campaign_kpis.campaign_id
    where coalesce(contact_counts.contacts, -1) <> coalesce(overall_campaign_kpis.contacts, -1)
    union all
    select {{ dbt.concat(["'campaign '", "campaign_id",
        "': segments do not add up to the campaign'"]) }} as problem
    from campaign_segments
    where overall_customers <> segment_customers
    union all
    select 'acquisition costs: new customers differ from the cohorts' as problem
    from acquisition_totals
    where new_customers <> (select count(*) from cohorts)
    union all
    select 'acquisition costs: spend differs from the spend lines' as problem
    from acquisition_totals
    where
        coalesce(spend, 0) <> (
            select coalesce(sum(marketing_spend.spend), 0) from marketing_spend
            where marketing_spend.spend_month <= {{ as_of_date() }}
        )
    union all
    select {{ dbt.concat(["'acquisition costs: month '", "cast(acquisition_month as string)",
        "' overall row is not the sum of its channels'"]) }} as problem
    from monthly_blend
    where overall_customers <> channel_customers or overall_spend <> channel_spend
    union all
    select 'exclusion summary: overall customers differ from campaign_exclusions' as problem
    from exclusion_summary
    where
        reason = {{ overall_label() }}
        and customers <> (
            select count(distinct campaign_exclusions.customer_id) from campaign_exclusions
        )
)

select * from problems
