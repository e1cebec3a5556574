-- The stored file behind a course picture uploaded with UploadCoursePicture (null when
-- the picture is a URL given by the teacher, or none): deleted when it is replaced.
alter table courses add column picture_key text;
