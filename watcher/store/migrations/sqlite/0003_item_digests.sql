-- version 3: what each item of a feed's last document was (a short hash of its bytes, in
-- document order), so that the next poll parses only the items that are new or changed.
ALTER TABLE feeds ADD COLUMN item_digests TEXT;
