using Google.Rpc;
using Grpc.Core;
using Xunit;

namespace ScheduledPosts.Testing;

/// <summary>What a gRPC caller reads of an error: the status code and the google.rpc.Status details.</summary>
public static class GrpcErrors
{
    /// <summary>Asserts the call fails with <paramref name="code"/> and ErrorInfo{reason, domain "scheduledposts"}; returns the status for more.</summary>
    public static async Task<Google.Rpc.Status> AssertFails(StatusCode code, string reason, Func<Task> call)
    {
        var error = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(code, error.StatusCode);
        var status = error.GetRpcStatus();
        Assert.NotNull(status);
        var info = status.GetDetail<ErrorInfo>();
        Assert.NotNull(info);
        Assert.Equal(reason, info.Reason);
        Assert.Equal("scheduledposts", info.Domain);
        return status;
    }

    /// <summary>The fields the BadRequest detail names.</summary>
    public static IReadOnlyList<string> Fields(Google.Rpc.Status status)
        => status.GetDetail<BadRequest>()?.FieldViolations.Select(v => v.Field).ToList() ?? [];
}
