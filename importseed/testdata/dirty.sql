-- Dirty data, as a seed database collects it: a dump loaded without
-- foreign-key checks and outside strict mode (invalid ENUMs become '' and
-- zero dates stay), and a schema edited by hand (a wider user_name, a
-- NULL-able phone, a message_body column declared latin1 that holds the
-- UTF-8 bytes a latin1 connection wrote, and one byte that is not UTF-8).
SET SESSION sql_mode = '';
SET FOREIGN_KEY_CHECKS = 0;
ALTER TABLE m_user MODIFY user_name varchar(400) NOT NULL, MODIFY user_phone varchar(12) NULL;
ALTER TABLE m_friends_message MODIFY message_body text CHARACTER SET latin1 NULL;
