-- Ads as shown: each impression is a row (which ad, to whom, when, and whether it was clicked), so impressions and
-- clicks are counted per ad, and a click counts only for an ad that user was shown.
ALTER TABLE ads ADD COLUMN updated_at TIMESTAMPTZ;
CREATE TABLE ad_views (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ad_id      BIGINT  NOT NULL REFERENCES ads (id) ON DELETE CASCADE,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    shown_at   TIMESTAMPTZ NOT NULL,
    clicked_at TIMESTAMPTZ
);
CREATE INDEX ad_views_ad ON ad_views (ad_id);
CREATE INDEX ad_views_user ON ad_views (user_id, ad_id, id);
