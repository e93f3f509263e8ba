-- JW315 requested products, once each: a message delivered in two deliveries counts once
-- (the newest delivery wins). A message may request several products, each with its own
-- provider reference and referrer; each is a referral. Referrals and care trajectories
-- both start from here.
select * from (
    select *, row_number() over (partition by municipality_code, message_id, provider_reference order by delivery_registered_at desc, row_locator) as copy_rank
    from {{ ref('stg_ijw__requests') }}
) as requests
where copy_rank = 1
