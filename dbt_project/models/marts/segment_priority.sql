{#- The pertinence x impact grid of the segments and the order to act in.

    impact (0..1) = mean of three shares of the scored base: customers (size), revenue
      (revenue share, floored at 0) and still-active customers (customers who bought within
      var churn_days: the retention potential). impact_index = impact / the largest impact.
    pertinence (0..1) from the segments seed: 0 for a segment excluded from priority campaigns
      (Lost), else (number of segments + 1 - priority) / number of segments (priority 1 -> 1).
    priority_score = pertinence x ((1 - w) + w x impact_index), w = var priority_impact_weight
      (default 0.5): the seed's order, reshuffled by impact. 0 for excluded or empty segments.
    priority_rank: by score, then seed priority. grid_cell: excluded, no_customers, or the
      quadrant at 0.5 on both axes: act_first (pertinent, high impact), nurture (pertinent, low
      impact), maintain (less pertinent, high impact), low_cost (neither). -#}
with

segment_kpis as (
    select * from {{ ref('segment_kpis') }}
),

segments as (
    select * from {{ ref('segments') }}
),

seed_size as (
    select count(*) as segment_count from segments
),

segment_rows as (
    select
        segment_kpis.segment,
        segment_kpis.customers,
        segment_kpis.share as customer_share,
        greatest(coalesce(segment_kpis.revenue_share, 0), 0) as revenue_share,
        segment_kpis.customers - segment_kpis.churned_customers as active_customers,
        segments.priority as seed_priority,
        coalesce(segments.is_excluded_from_priority_campaigns, false) as is_excluded
    from segment_kpis
    inner join segments
        on segment_kpis.segment = segments.segment
),

active_total as (
    select sum(active_customers) as active_customers from segment_rows
),

impacts as (
    select
        segment_rows.*,
        {{ safe_divide('segment_rows.active_customers', 'active_total.active_customers') }}
            as active_share,
        (
            coalesce(segment_rows.customer_share, 0)
            + segment_rows.revenue_share
            + coalesce({{ safe_divide('segment_rows.active_customers',
                'active_total.active_customers') }}, 0)
        ) / 3.0 as impact,
        case
            when segment_rows.is_excluded then 0.0
            else
                cast(seed_size.segment_count + 1 - segment_rows.seed_priority as double)
                / cast(seed_size.segment_count as double)
        end as pertinence
    from segment_rows
    cross join active_total
    cross join seed_size
),

indexed as (
    select
        impacts.*,
        coalesce({{ safe_divide('impacts.impact', 'max(impacts.impact) over ()') }}, 0)
            as impact_index
    from impacts
),

scored as (
    select
        indexed.*,
        case
            when indexed.is_excluded or indexed.customers = 0 then 0.0
            else indexed.pertinence * (
                (1.0 - {{ priority_impact_weight() }})
                + {{ priority_impact_weight() }} * indexed.impact_index
            )
        end as priority_score
    from indexed
),

priority as (
    select
        {{ as_of_date() }} as as_of,
        cast(segment as string) as segment,
        cast(row_number() over (
            order by priority_score desc, seed_priority asc
        ) as integer) as priority_rank,
        cast(seed_priority as integer) as seed_priority,
        is_excluded,
        cast(customers as integer) as customers,
        customer_share,
        revenue_share,
        active_share,
        impact,
        impact_index,
        pertinence,
        priority_score,
        cast(case
            when is_excluded then 'excluded'
            when customers = 0 then 'no_customers'
            when pertinence >= 0.5 and impact_index >= 0.5 then 'act_first'
            when pertinence >= 0.5 then 'nurture'
            when impact_index >= 0.5 then 'maintain'
            else 'low_cost'
        end as string) as grid_cell
    from scored
)

select * from priority
