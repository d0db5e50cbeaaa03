package client

import "testing"

// A friend request pushed to the user while their own friends call waits
// arrives as a one-row friends array, without seq like every array. It must
// not be taken for the reply: Friends returns the whole list.
func TestFriendPushIsNotTheFriendsReply(t *testing.T) {
	srv := newFakeServer(t)
	srv.mu.Lock()
	srv.friendPush = true
	srv.mu.Unlock()
	c := login(t, srv.addr(), "1")
	for range 3 {
		fr, err := c.Friends(ctx5(t))
		if err != nil || len(fr) != 2 || fr[0].ID != "2" || fr[1].ID != "3" {
			t.Fatalf("friends: %+v %v; want the two rows of the reply", fr, err)
		}
	}
}
