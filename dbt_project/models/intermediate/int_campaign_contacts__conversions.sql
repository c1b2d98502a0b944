{#- One row per campaign and contacted customer: how often and when they were contacted, what
    it cost, and whether they converted. A qualifying order converts a contact when it is dated
    on the contact day or at most var attribution_window_days days after it. A customer converts
    at most once per campaign, whatever the number of contacts and orders; every distinct order
    inside one of their windows is attributed once (another campaign may claim it too). Contacts
    dated after the as-of date are ignored. -#}
with

contacts as (
    select * from {{ ref('stg_campaign_contacts') }}
),

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

dated_contacts as (
    select *
    from contacts
    where contacted_on <= {{ as_of_date() }}
),

contacted_customers as (
    select
        campaign_id,
        customer_id,
        cast(count(*) as integer) as contacts,
        min(contacted_on) as first_contacted_on,
        max(contacted_on) as last_contacted_on,
        cast(sum(cost) as decimal(18, 2)) as cost
    from dated_contacts
    group by campaign_id, customer_id
),

{# Only the orders of contacted customers from the first contact on can fall in a window:
    filtering them first spares the range join most of the order history. -#}
contacted_orders as (
    select
        customer_id,
        order_id,
        order_date,
        amount
    from qualifying_orders
    where
        order_date >= (select min(dated_contacts.contacted_on) from dated_contacts)
        and customer_id in (select dated_contacts.customer_id from dated_contacts)
),

{# Every (contact, order) pair inside the contact's window, then each order once per campaign
    and customer. -#}
orders_in_window as (
    select distinct
        dated_contacts.campaign_id,
        dated_contacts.customer_id,
        contacted_orders.order_id,
        contacted_orders.order_date,
        contacted_orders.amount
    from dated_contacts
    inner join contacted_orders
        on
            dated_contacts.customer_id = contacted_orders.customer_id
            and contacted_orders.order_date >= dated_contacts.contacted_on
            and contacted_orders.order_date <= cast({{ dbt.dateadd(
                'day', attribution_window_days(), 'dated_contacts.contacted_on') }} as date)
),

attributed as (
    select
        campaign_id,
        customer_id,
        cast(count(*) as integer) as attributed_orders,
        cast(sum(amount) as decimal(18, 2)) as attributed_revenue,
        min(order_date) as first_conversion_date
    from orders_in_window
    group by campaign_id, customer_id
),

conversions as (
    select
        contacted_customers.campaign_id,
        contacted_customers.customer_id,
        contacted_customers.contacts,
        contacted_customers.first_contacted_on,
        contacted_customers.last_contacted_on,
        contacted_customers.cost,
        coalesce(attributed.attributed_orders, 0) > 0 as is_converted,
        attributed.first_conversion_date,
        cast(coalesce(attributed.attributed_orders, 0) as integer) as attributed_orders,
        cast(coalesce(attributed.attributed_revenue, 0) as decimal(18, 2)) as attributed_revenue,
        cast({{ dbt.dateadd('day', attribution_window_days(),
            'contacted_customers.last_contacted_on') }} as date) as window_end
    from contacted_customers
    left join attributed
        on
            contacted_customers.campaign_id = attributed.campaign_id
            and contacted_customers.customer_id = attributed.customer_id
)

select * from conversions
