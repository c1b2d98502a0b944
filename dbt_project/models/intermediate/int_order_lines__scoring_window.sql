{#- The order lines of non-returned qualifying orders in the scoring window, with their master
    customer: what customers kept of what they bought. customer_preferences (favourite
    category) and segment_star_products read it, so the lines are joined to their orders once. -#}
with

qualifying_orders as (
    select * from {{ ref('int_orders__qualifying') }}
),

order_lines as (
    select * from {{ ref('stg_order_lines') }}
),

kept_lines as (
    select
        qualifying_orders.customer_id,
        order_lines.order_id,
        order_lines.line_number,
        order_lines.product_id,
        order_lines.category,
        order_lines.quantity,
        order_lines.line_amount
    from qualifying_orders
    inner join order_lines
        on qualifying_orders.order_id = order_lines.order_id
    where
        qualifying_orders.is_in_scoring_window
        and not qualifying_orders.is_returned
)

select * from kept_lines
