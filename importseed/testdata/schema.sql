-- The seed server's tables, written from ../shared/seed-protocol.md §4.1
-- (MariaDB has no utf8mb4_0900_ai_ci: utf8mb4_unicode_ci is the nearest,
-- also case- and accent-insensitive). Only the tables the importer reads;
-- the unused group and media tables are not created.
CREATE TABLE m_user (
  user_id       varchar(20)  NOT NULL,
  user_password varchar(255) NOT NULL,
  user_phone    varchar(12)  NOT NULL,
  user_name     varchar(255) NOT NULL,
  user_email    varchar(30)  NOT NULL DEFAULT 'aa@an.com',
  user_avatar   varchar(100) NOT NULL DEFAULT '/default.jpg',
  user_status   enum('active','inactive','busy') NOT NULL DEFAULT 'inactive',
  user_created  datetime     NOT NULL,
  PRIMARY KEY (user_id),
  UNIQUE KEY user_email (user_email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE m_friends_relation (
  user_id          varchar(20) NOT NULL,
  friend_id        varchar(20) NOT NULL,
  friend_relation  enum('pending','accepted','refused') NOT NULL DEFAULT 'pending',
  created_relation datetime    NOT NULL,
  PRIMARY KEY (user_id, friend_id),
  KEY friend_id (friend_id),
  FOREIGN KEY (user_id) REFERENCES m_user (user_id),
  FOREIGN KEY (friend_id) REFERENCES m_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE m_chatlist (
  user_id           varchar(20) NOT NULL,
  comm_id           varchar(20) NOT NULL,
  chat_type         enum('friend','group') NOT NULL,
  last_message      text NULL,
  last_message_type enum('text','emoticon','image','audio','vedio','file') NULL,
  last_time         datetime NOT NULL,
  unread_count      int NOT NULL DEFAULT 0,
  chat_status       enum('chatting','close') NOT NULL,
  PRIMARY KEY (user_id, comm_id),
  FOREIGN KEY (user_id) REFERENCES m_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE m_friends_message (
  message_id        bigint NOT NULL AUTO_INCREMENT,
  sender_id         varchar(20) NOT NULL,
  receiver_id       varchar(20) NOT NULL,
  chat_type         enum('friend','group') NOT NULL,
  message_body      text NULL,
  message_type      enum('text','emoticon','image','audio','video','file') NOT NULL,
  file_path         varchar(255) NULL,
  message_status    enum('received','read','delete','send') NOT NULL,
  message_timestamp datetime NOT NULL,
  PRIMARY KEY (message_id),
  KEY sender_id (sender_id),
  KEY receiver_id (receiver_id),
  FOREIGN KEY (sender_id) REFERENCES m_user (user_id),
  FOREIGN KEY (receiver_id) REFERENCES m_user (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci AUTO_INCREMENT=231132;
