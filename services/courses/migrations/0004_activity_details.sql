-- What an assistant's action changed, in a few words (the fields an edit changed, a new
-- item's title, a removal's reason, a grade). Entries written before it say nothing.
alter table activity_log add column details text not null default '';
