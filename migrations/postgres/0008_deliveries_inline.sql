-- A delivery's payload compresses to 3-4 KB (lz4 TOAST, 0007), still above the default
-- toast_tuple_target of ~2 KB, so PostgreSQL moved every payload out of line: two TOAST
-- chunks and their index entries per delivery, beside the row itself. Toasting still starts
-- past this target, compression comes first, and a row whose compressed payload fits in 8 KB
-- now stays inline in its heap page: one heap tuple per delivery.
ALTER TABLE deliveries SET (toast_tuple_target = 8160);
