using ScheduledPosts.Gateway.Proxy;
using Yarp.ReverseProxy.Configuration;

namespace ScheduledPosts.Gateway.Tests;

public sealed class RouteResourceFilterTests
{
    private readonly RouteResourceFilter _filter = new();

    [Theory]
    [InlineData("/v1/posts/{**rest}")]
    [InlineData("/api/v1/{**rest}")]
    [InlineData("/postbreeze/api/v1/{**rest}")]
    public async Task A_route_under_v1_or_a_dialects_base_path_naming_a_known_resource_is_accepted(string path)
    {
        var route = Route(path, "posts");

        Assert.Same(route, await _filter.ConfigureRouteAsync(route, null, CancellationToken.None));
    }

    [Theory]
    [InlineData("/v1/posts/{**rest}", null)]
    [InlineData("/v1/posts/{**rest}", "media")]
    [InlineData("/v1/posts/{**rest}", "admin")]
    [InlineData("/v1/posts/{**rest}", "anonymous")]
    [InlineData("/internal/{**rest}", "posts")]
    [InlineData("/api/v10/{**rest}", "posts")]
    [InlineData("/postbreeze/{**rest}", "posts")]
    public async Task A_route_that_would_escape_the_scope_check_is_refused(string path, string? policy)
    {
        var route = Route(path, policy);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => _filter.ConfigureRouteAsync(route, null, CancellationToken.None).AsTask());
        Assert.Contains("test-route", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("-5")]
    public async Task A_route_with_a_body_limit_that_is_not_a_positive_number_of_bytes_is_refused(string limit)
    {
        var route = Route("/v1/media/{**rest}", "posts", new Dictionary<string, string> { ["MaxRequestBodyBytes"] = limit });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => _filter.ConfigureRouteAsync(route, null, CancellationToken.None).AsTask());
        Assert.Contains("MaxRequestBodyBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_route_may_raise_its_body_limit()
    {
        var route = Route("/v1/media/{**rest}", "posts", new Dictionary<string, string> { ["MaxRequestBodyBytes"] = "104857600" });

        Assert.Equal(104857600, RouteResourceFilter.MaxBodyBytes(route));
        Assert.Null(RouteResourceFilter.MaxBodyBytes(Route("/v1/posts/{**rest}", "posts")));
    }

    private static RouteConfig Route(string path, string? policy, IReadOnlyDictionary<string, string>? metadata = null) => new()
    {
        RouteId = "test-route",
        ClusterId = "scheduling",
        Match = new RouteMatch { Path = path },
        AuthorizationPolicy = policy,
        Metadata = metadata,
    };
}
