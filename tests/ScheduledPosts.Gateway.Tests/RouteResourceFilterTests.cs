using ScheduledPosts.Gateway.Proxy;
using Yarp.ReverseProxy.Configuration;

namespace ScheduledPosts.Gateway.Tests;

public sealed class RouteResourceFilterTests
{
    private readonly RouteResourceFilter _filter = new();

    [Fact]
    public async Task A_route_under_v1_naming_a_known_resource_is_accepted()
    {
        var route = Route("/v1/posts/{**rest}", new Dictionary<string, string> { ["Resource"] = "posts" });

        Assert.Same(route, await _filter.ConfigureRouteAsync(route, null, CancellationToken.None));
    }

    [Theory]
    [InlineData("/v1/posts/{**rest}", null)]
    [InlineData("/v1/posts/{**rest}", "media")]
    [InlineData("/internal/{**rest}", "posts")]
    public async Task A_route_that_would_escape_the_scope_check_is_refused(string path, string? resource)
    {
        var route = Route(path, resource is null ? null : new Dictionary<string, string> { ["Resource"] = resource });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => _filter.ConfigureRouteAsync(route, null, CancellationToken.None).AsTask());
        Assert.Contains("test-route", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("0")]
    [InlineData("-5")]
    public async Task A_route_with_a_body_limit_that_is_not_a_positive_number_of_bytes_is_refused(string limit)
    {
        var route = Route("/v1/media/{**rest}", new Dictionary<string, string> { ["Resource"] = "posts", ["MaxRequestBodyBytes"] = limit });

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => _filter.ConfigureRouteAsync(route, null, CancellationToken.None).AsTask());
        Assert.Contains("MaxRequestBodyBytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_route_may_raise_its_body_limit()
    {
        var route = Route("/v1/media/{**rest}", new Dictionary<string, string> { ["Resource"] = "posts", ["MaxRequestBodyBytes"] = "104857600" });

        Assert.Equal(104857600, RouteResourceFilter.MaxBodyBytes(route));
        Assert.Null(RouteResourceFilter.MaxBodyBytes(Route("/v1/posts/{**rest}", new Dictionary<string, string> { ["Resource"] = "posts" })));
    }

    private static RouteConfig Route(string path, IReadOnlyDictionary<string, string>? metadata) => new()
    {
        RouteId = "test-route",
        ClusterId = "scheduling",
        Match = new RouteMatch { Path = path },
        Metadata = metadata,
    };
}
