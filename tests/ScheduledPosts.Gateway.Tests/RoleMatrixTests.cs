using System.Net;
using ScheduledPosts.Gateway.ApiKeys;

namespace ScheduledPosts.Gateway.Tests;

/// <summary>Each role's allowed and refused operations (docs/api.md#routes), across every proxied resource and the gateway's own.</summary>
public sealed class RoleMatrixTests(ProxyFixture fixture) : IClassFixture<ProxyFixture>
{
    private readonly HttpClient _client = fixture.Gateway.CreateClient();

    private static readonly (string Method, string Path)[] Operations =
    [
        ("GET", "/v1/posts"), ("POST", "/v1/posts"), ("POST", "/v1/posts/post_1/cancel"), ("DELETE", "/v1/posts/post_1"),
        ("GET", "/v1/scheduled-posts/post_1"), ("DELETE", "/v1/scheduled-posts/post_1"), ("POST", "/v1/media"),
        ("GET", "/v1/scheduling-settings"), ("PATCH", "/v1/scheduling-settings"),
        ("GET", "/v1/social-accounts"), ("POST", "/v1/social-accounts"), ("DELETE", "/v1/social-accounts/acc_1"),
        ("GET", "/v1/webhook-endpoints"), ("POST", "/v1/webhook-endpoints"), ("POST", "/v1/webhook-deliveries/dlv_1/redeliver"),
        ("GET", "/v1/api-keys"),
    ];

    // What each role may do; everything else is refused. Editors write posts but not the workspace's settings.
    public static TheoryData<string, string, string, bool> Matrix()
    {
        var allowed = new Dictionary<string, Func<string, string, bool>>
        {
            [Roles.Owner] = (_, _) => true,
            [Roles.Admin] = (_, _) => true,
            [Roles.Editor] = (method, path) => IsPosts(path) || (method == "GET" && !path.StartsWith("/v1/api-keys", StringComparison.Ordinal)),
            [Roles.Viewer] = (method, path) => method == "GET" && !path.StartsWith("/v1/api-keys", StringComparison.Ordinal),
        };
        var data = new TheoryData<string, string, string, bool>();
        foreach (var (role, may) in allowed)
        {
            foreach (var (method, path) in Operations)
            {
                data.Add(role, method, path, may(method, path));
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Matrix))]
    public async Task Each_role_may_do_exactly_what_its_scopes_allow(string role, string method, string path, bool allowed)
    {
        var key = await TestKeys.InsertAsync(fixture.ConnectionString, role);
        // The webhooks service is down in this fixture: reaching it at all (502/503) proves the gateway let the call through.
        bool webhooks = path.StartsWith("/v1/webhook", StringComparison.Ordinal);

        var response = await _client.SendAsync(new HttpMethod(method), path, bearer: key.Key);

        if (!allowed)
        {
            await response.AssertEnvelopeAsync(HttpStatusCode.Forbidden, "FORBIDDEN_SCOPE");
        }
        else if (webhooks)
        {
            Assert.Contains(response.StatusCode, new[] { HttpStatusCode.BadGateway, HttpStatusCode.ServiceUnavailable });
        }
        else
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
    }

    private static bool IsPosts(string path)
        => path.StartsWith("/v1/posts", StringComparison.Ordinal) || path.StartsWith("/v1/scheduled-posts", StringComparison.Ordinal)
           || path.StartsWith("/v1/media", StringComparison.Ordinal);
}
