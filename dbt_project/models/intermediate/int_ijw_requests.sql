-- JW315 requests, once each: a message delivered in two deliveries counts once (the
-- newest delivery wins). Referrals and care trajectories both start from here.
select * from (
    select *, row_number() over (partition by municipality_code, message_id order by delivery_registered_at desc, row_locator) as copy_rank
    from {{ ref('stg_ijw__requests') }}
) as requests
where copy_rank = 1
