using ScheduledPosts.Gateway.ApiKeys;

namespace ScheduledPosts.Gateway.Tests;

public sealed class RolesTests
{
    [Theory]
    [InlineData("owner")]
    [InlineData("admin")]
    public void Owners_and_admins_hold_every_scope(string role)
    {
        Assert.Equal(
            ["accounts:read", "accounts:write", "keys:write", "posts:approve", "posts:read", "posts:write", "settings:read", "settings:write", "webhooks:read", "webhooks:write"],
            Roles.ScopesOf(role).Order());
    }

    [Fact]
    public void Editors_write_posts_and_read_accounts_and_webhooks()
    {
        Assert.Equal(["accounts:read", "posts:read", "posts:write", "settings:read", "webhooks:read"], Roles.ScopesOf(Roles.Editor).Order());
    }

    [Fact]
    public void Viewers_read_everything_and_write_nothing()
    {
        Assert.Equal(["accounts:read", "posts:read", "settings:read", "webhooks:read"], Roles.ScopesOf(Roles.Viewer).Order());
    }

    [Theory]
    [InlineData("owner", true)]
    [InlineData("admin", true)]
    [InlineData("editor", true)]
    [InlineData("viewer", false)]
    public void Only_owners_admins_and_editors_can_cancel(string role, bool canCancel)
    {
        string required = Scopes.Required("posts", "POST");
        Assert.Equal(canCancel, Roles.ScopesOf(role).Contains(required));
    }

    [Theory]
    [InlineData("")]
    [InlineData("Owner")]
    [InlineData("superuser")]
    public void An_unknown_role_grants_nothing(string role)
    {
        Assert.Empty(Roles.ScopesOf(role));
        Assert.Empty(Roles.EffectiveScopes(role, Scopes.All));
    }

    [Fact]
    public void A_key_gets_its_granted_scopes_capped_by_its_role()
    {
        Assert.Equal(["posts:read"], Roles.EffectiveScopes(Roles.Owner, ["posts:read"]));
        Assert.Equal(["posts:read", "accounts:read"], Roles.EffectiveScopes(Roles.Viewer, ["posts:read", "posts:write", "accounts:read", "keys:write", "internal"]));
    }

    [Theory]
    [InlineData("GET", "posts:read")]
    [InlineData("HEAD", "posts:read")]
    [InlineData("get", "posts:read")]
    [InlineData("POST", "posts:write")]
    [InlineData("PUT", "posts:write")]
    [InlineData("PATCH", "posts:write")]
    [InlineData("DELETE", "posts:write")]
    [InlineData("OPTIONS", "posts:write")]
    public void Reading_methods_need_read_and_all_others_write(string method, string required)
    {
        Assert.Equal(required, Scopes.Required("posts", method));
    }

    [Fact]
    public void The_resources_are_those_the_scopes_name()
    {
        Assert.Equal(["accounts", "keys", "posts", "settings", "webhooks"], Scopes.Resources.Order());
    }
}
