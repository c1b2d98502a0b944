{#- What customers of each segment contact support about: per segment (and overall) and ticket
    topic, the tickets dated in the scoring window, the distinct customers who opened them, the
    topic's share of the segment's tickets and its lift against all scored customers
    (share in the segment / share overall: above 1 = more frequent in this segment), and the NPS
    of those customers over var nps_window_days (with its number of answers). -#}
with

tickets as (
    select * from {{ ref('int_support_tickets__scoring_window') }}
),

customer_rfm as (
    select * from {{ ref('customer_rfm') }}
),

customer_nps as (
    select * from {{ ref('int_customers__nps') }}
),

segment_tickets as (
    select
        customer_rfm.segment,
        tickets.topic,
        tickets.ticket_id,
        tickets.customer_id
    from tickets
    inner join customer_rfm
        on tickets.customer_id = customer_rfm.customer_id
),

grouped_tickets as (
    {{ with_overall_rows('segment_tickets', 'theme_segment') }}
),

topic_totals as (
    select
        theme_segment,
        topic,
        count(*) as tickets,
        count(distinct customer_id) as customers
    from grouped_tickets
    group by theme_segment, topic
),

topic_customers as (
    select distinct theme_segment, topic, customer_id
    from grouped_tickets
),

topic_nps as (
    select
        topic_customers.theme_segment,
        topic_customers.topic,
        sum(coalesce(customer_nps.nps_responses, 0)) as nps_responses,
        sum(coalesce(customer_nps.promoters, 0)) as promoters,
        sum(coalesce(customer_nps.detractors, 0)) as detractors
    from topic_customers
    left join customer_nps
        on topic_customers.customer_id = customer_nps.customer_id
    group by topic_customers.theme_segment, topic_customers.topic
),

grouped_customers as (
    {{ with_overall_rows('customer_rfm', 'theme_segment') }}
),

segment_sizes as (
    select theme_segment, count(*) as segment_customers
    from grouped_customers
    group by theme_segment
),

with_shares as (
    select
        topic_totals.theme_segment,
        topic_totals.topic,
        topic_totals.tickets,
        topic_totals.customers,
        segment_sizes.segment_customers,
        {{ safe_divide('topic_totals.tickets',
            'sum(topic_totals.tickets) over (partition by topic_totals.theme_segment)') }}
            as ticket_share,
        topic_nps.nps_responses,
        topic_nps.promoters,
        topic_nps.detractors
    from topic_totals
    inner join segment_sizes
        on topic_totals.theme_segment = segment_sizes.theme_segment
    inner join topic_nps
        on
            topic_totals.theme_segment = topic_nps.theme_segment
            and topic_totals.topic = topic_nps.topic
),

themes as (
    select
        {{ as_of_date() }} as as_of,
        cast(with_shares.theme_segment as string) as segment,
        cast(with_shares.topic as string) as topic,
        cast(row_number() over (
            partition by with_shares.theme_segment
            order by with_shares.tickets desc, with_shares.topic asc
        ) as integer) as topic_rank,
        cast(with_shares.tickets as integer) as tickets,
        cast(with_shares.customers as integer) as customers,
        {{ safe_divide('with_shares.customers', 'with_shares.segment_customers') }}
            as customer_share,
        with_shares.ticket_share,
        overall_shares.ticket_share as overall_ticket_share,
        {{ safe_divide('with_shares.ticket_share', 'overall_shares.ticket_share') }} as lift,
        {{ nps_score('with_shares.promoters', 'with_shares.detractors',
            'with_shares.nps_responses') }} as nps,
        cast(with_shares.nps_responses as integer) as nps_responses,
        with_shares.nps_responses >= {{ nps_min_responses() }} as is_nps_reliable
    from with_shares
    inner join with_shares as overall_shares
        on
            with_shares.topic = overall_shares.topic
            and overall_shares.theme_segment = {{ overall_label() }}
)

select * from themes
