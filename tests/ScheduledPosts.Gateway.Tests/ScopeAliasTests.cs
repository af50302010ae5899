using ScheduledPosts.Gateway.ApiKeys;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>Layers' <c>publish:write</c> names our <c>posts:write</c>, when a key is minted and when it is checked.</summary>
public sealed class ScopeAliasTests
{
    [Fact]
    public void A_key_asked_for_with_publish_write_is_minted_with_posts_write()
    {
        var key = ApiKeyRules.Validate("layers client", Roles.Editor, ["posts:read", "publish:write"]);

        Assert.Equal([Scopes.PostsRead, Scopes.PostsWrite], key.Scopes);
        Assert.Equal([Scopes.PostsWrite], ApiKeyRules.Validate("twice", Roles.Editor, ["publish:write", "posts:write"]).Scopes);
    }

    [Fact]
    public void A_role_without_posts_write_is_not_given_it_through_the_alias()
    {
        var error = Assert.Throws<ScheduledPosts.ServiceDefaults.Errors.ApiException>(() => ApiKeyRules.Validate("viewer", Roles.Viewer, ["publish:write"]));

        Assert.Equal("scopes[0]", error.Issues![0].Path);
    }

    [Fact]
    public void A_key_holding_posts_write_holds_publish_write_and_only_that()
    {
        var caller = new ApiKeyCaller("key_1", "ws_1", Roles.Editor, [Scopes.PostsWrite]);

        Assert.True(caller.HasScope("publish:write"));
        Assert.False(new ApiKeyCaller("key_2", "ws_1", Roles.Viewer, [Scopes.PostsRead]).HasScope("publish:write"));
    }
}
