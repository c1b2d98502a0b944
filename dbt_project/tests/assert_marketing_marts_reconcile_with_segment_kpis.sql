{#- The marketing marts add up to segment_kpis: per segment (and overall) the persona sizes, the
    R x F cells and the support tickets by topic; customer_dimensions counts the scored customers
    and the prospects of the overall row. One row per mismatch. -#}
with

segment_kpis as (
    select * from {{ ref('segment_kpis') }}
),

personas as (
    select * from {{ ref('segment_personas') }}
),

support_themes as (
    select * from {{ ref('segment_support_themes') }}
),

rfm_grid as (
    select * from {{ ref('rfm_grid') }}
),

customer_dimensions as (
    select * from {{ ref('customer_dimensions') }}
),

theme_tickets as (
    select segment, sum(tickets) as tickets
    from support_themes
    group by segment
),

grid_customers as (
    select sum(customers) as customers from rfm_grid
),

dimension_counts as (
    select
        sum(case when segment <> {{ unscored_segment() }} then 1 else 0 end) as scored,
        sum(case when is_prospect then 1 else 0 end) as prospects
    from customer_dimensions
),

problems as (
    select
        segment_kpis.segment,
        'persona customers differ from segment_kpis' as problem
    from segment_kpis
    left join personas
        on segment_kpis.segment = personas.segment
    where coalesce(personas.customers, 0) <> segment_kpis.customers
    union all
    select
        segment_kpis.segment,
        'support theme tickets differ from segment_kpis' as problem
    from segment_kpis
    left join theme_tickets
        on segment_kpis.segment = theme_tickets.segment
    where coalesce(theme_tickets.tickets, 0) <> segment_kpis.tickets
    union all
    select
        segment_kpis.segment,
        'R x F grid customers differ from segment_kpis' as problem
    from segment_kpis
    cross join grid_customers
    where
        segment_kpis.segment = {{ overall_label() }}
        and grid_customers.customers <> segment_kpis.customers
    union all
    select
        segment_kpis.segment,
        'customer_dimensions scored customers or prospects differ from segment_kpis' as problem
    from segment_kpis
    cross join dimension_counts
    where
        segment_kpis.segment = {{ overall_label() }}
        and (
            dimension_counts.scored <> segment_kpis.customers
            or dimension_counts.prospects <> segment_kpis.prospects
        )
)

select * from problems
